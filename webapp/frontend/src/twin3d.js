// The 3D twin viewer: one storey's GLB (one node per element, named by its GlobalId), coloured by
// status, orbit/zoom, hover highlight, click through to the element page.
//
//   window.SiteTwin3D.mount(element, {glbUrl, statusUrl, elementUrl}) -> Promise<viewer>
//
// statusUrl answers {"colors": {"<status>": "#rrggbb"}, "elements": {"<GlobalId>": "<status>"}};
// elements missing from "elements" (or with a status missing from "colors") are grey.
// elementUrl holds "__GID__", replaced by the clicked element's GlobalId (URI-encoded: "$" is "%24").
//
// The GLB is glTF's frame: metres, y up. It carries no normals, so GLTFLoader flat-shades it (the
// glTF spec asks clients to compute flat normals when NORMAL is absent).
//
// For browser tests, window.SiteTwin3D.state is the last mounted viewer's
// {loaded, nodes, colored: {status: count}, error}.

import {
  AmbientLight, Box3, Color, DirectionalLight, MeshStandardMaterial, PerspectiveCamera, Raycaster,
  Scene, Sphere, Vector2, Vector3, WebGLRenderer,
} from "three";
import { GLTFLoader } from "three/examples/jsm/loaders/GLTFLoader.js";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";

const UNKNOWN = "unknown";
const UNKNOWN_COLOR = "#9e9e9e";
const BACKGROUND = "#f4f5f7";
const HOVER_EMISSIVE = 0x333333;
// A pointer that moves less than this between down and up is a click, not an orbit drag.
const CLICK_SLOP_PX = 5;

function statusMaterial(color) {
  return new MeshStandardMaterial({ color: new Color(color), roughness: 0.85, metalness: 0.0 });
}

async function fetchJson(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

class Viewer {
  constructor(element, { glbUrl, statusUrl, elementUrl }) {
    if (!glbUrl) throw new Error("SiteTwin3D.mount: glbUrl is required");
    this.element = element;
    this.options = { glbUrl, statusUrl, elementUrl };
    this.state = { loaded: false, nodes: 0, colored: {}, error: null };
    this.meshes = new Map(); // GlobalId -> Mesh
    this.hovered = null;
    this.frameRequested = false;

    this.renderer = new WebGLRenderer({ antialias: true });
    this.renderer.setPixelRatio(window.devicePixelRatio || 1);
    this.renderer.domElement.style.display = "block";
    this.renderer.domElement.style.width = "100%";
    this.renderer.domElement.style.height = "100%";
    element.appendChild(this.renderer.domElement);

    this.scene = new Scene();
    this.scene.background = new Color(BACKGROUND);
    this.scene.add(new AmbientLight(0xffffff, 1.2));
    this.sun = new DirectionalLight(0xffffff, 2.0);
    this.scene.add(this.sun);

    this.camera = new PerspectiveCamera(45, 1, 0.1, 1000);
    this.controls = new OrbitControls(this.camera, this.renderer.domElement);
    this.controls.addEventListener("change", () => this.requestRender());
    this.raycaster = new Raycaster();

    this.resize();
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(element);
    this.bindPointer();
  }

  async load() {
    try {
      const [gltf, status] = await Promise.all([
        new GLTFLoader().loadAsync(this.options.glbUrl),
        this.options.statusUrl ? fetchJson(this.options.statusUrl) : Promise.resolve({}),
      ]);
      this.root = gltf.scene;
      this.scene.add(this.root);
      this.root.traverse((object) => {
        if (object.isMesh) this.meshes.set(object.name, object);
      });
      this.applyStatus(status);
      this.fit();
      this.state.nodes = this.meshes.size;
      this.state.loaded = true;
    } catch (error) {
      this.state.error = String(error && error.message ? error.message : error);
      const note = document.createElement("p");
      note.className = "twin3d-error";
      note.textContent = `3D view unavailable: ${this.state.error}`;
      this.element.appendChild(note);
    }
    this.requestRender();
    return this;
  }

  // Colour each node by its status: one shared material per status, grey for unknown elements.
  applyStatus({ colors = {}, elements = {} } = {}) {
    for (const material of [...Object.values(this.materials || {}), ...Object.values(this.highlights || {})]) {
      material.dispose();
    }
    this.materials = { [UNKNOWN]: statusMaterial(UNKNOWN_COLOR) };
    this.highlights = {};
    for (const [status, color] of Object.entries(colors)) this.materials[status] = statusMaterial(color);
    const colored = {};
    for (const [gid, mesh] of this.meshes) {
      const status = elements[gid] in this.materials ? elements[gid] : UNKNOWN;
      mesh.material = this.materials[status];
      mesh.userData.status = status;
      colored[status] = (colored[status] || 0) + 1;
    }
    this.state.colored = colored;
    this.hovered = null;
    this.requestRender();
  }

  // Camera looking at the whole storey from above a corner; light from behind the camera.
  fit() {
    const sphere = new Box3().setFromObject(this.root).getBoundingSphere(new Sphere());
    const radius = Math.max(sphere.radius, 1);
    const distance = radius / Math.sin((this.camera.fov * Math.PI) / 360);
    const direction = new Vector3(1, 0.9, 1.2).normalize();
    this.camera.position.copy(sphere.center).addScaledVector(direction, distance);
    this.camera.near = distance / 100;
    this.camera.far = distance * 10;
    this.camera.updateProjectionMatrix();
    this.controls.target.copy(sphere.center);
    this.controls.update();
    this.sun.position.copy(this.camera.position);
  }

  resize() {
    const width = this.element.clientWidth || 800;
    const height = this.element.clientHeight || 500;
    this.renderer.setSize(width, height, false);
    this.camera.aspect = width / height;
    this.camera.updateProjectionMatrix();
    this.requestRender();
  }

  requestRender() {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => {
      this.frameRequested = false;
      this.renderer.render(this.scene, this.camera);
    });
  }

  // The element mesh under a client-space point, or null.
  meshAt(clientX, clientY) {
    if (!this.root) return null;
    const rect = this.renderer.domElement.getBoundingClientRect();
    const ndc = new Vector2(((clientX - rect.left) / rect.width) * 2 - 1, -((clientY - rect.top) / rect.height) * 2 + 1);
    this.raycaster.setFromCamera(ndc, this.camera);
    const hit = this.raycaster.intersectObject(this.root, true).find((h) => h.object.isMesh);
    return hit ? hit.object : null;
  }

  // The hover material of a status: its colour, lit up; made once per status.
  highlight(status) {
    if (!this.highlights[status]) {
      this.highlights[status] = this.materials[status].clone();
      this.highlights[status].emissive = new Color(HOVER_EMISSIVE);
    }
    return this.highlights[status];
  }

  setHovered(mesh) {
    if (mesh === this.hovered) return;
    if (this.hovered) this.hovered.material = this.materials[this.hovered.userData.status];
    this.hovered = mesh;
    if (mesh) mesh.material = this.highlight(mesh.userData.status);
    this.renderer.domElement.style.cursor = mesh ? "pointer" : "";
    this.element.title = mesh ? `${mesh.name} (${mesh.userData.status})` : "";
    this.requestRender();
  }

  open(globalId) {
    if (this.options.elementUrl) window.location = this.options.elementUrl.replace("__GID__", encodeURIComponent(globalId));
  }

  bindPointer() {
    const canvas = this.renderer.domElement;
    let down = null;
    let pending = null;
    canvas.addEventListener("pointerdown", (event) => { down = { x: event.clientX, y: event.clientY }; });
    canvas.addEventListener("pointerup", (event) => {
      if (!down || Math.hypot(event.clientX - down.x, event.clientY - down.y) > CLICK_SLOP_PX) return;
      down = null;
      const mesh = this.meshAt(event.clientX, event.clientY);
      if (mesh) this.open(mesh.name);
    });
    canvas.addEventListener("pointermove", (event) => {
      if (event.buttons) return; // orbiting
      if (pending === null) {
        requestAnimationFrame(() => {
          this.setHovered(this.meshAt(pending.x, pending.y));
          pending = null;
        });
      }
      pending = { x: event.clientX, y: event.clientY };
    });
    canvas.addEventListener("pointerleave", () => this.setHovered(null));
  }

  // Highlight an element by GlobalId (as hover does); false when the storey has no such node.
  pick(globalId) {
    const mesh = this.meshes.get(globalId) || null;
    this.setHovered(mesh);
    return mesh !== null;
  }

  // Client-space {x, y} of an element's box centre, for tests that click on it; null if unknown.
  screenPoint(globalId) {
    const mesh = this.meshes.get(globalId);
    if (!mesh) return null;
    const centre = new Box3().setFromObject(mesh).getCenter(new Vector3()).project(this.camera);
    const rect = this.renderer.domElement.getBoundingClientRect();
    return { x: rect.left + ((centre.x + 1) / 2) * rect.width, y: rect.top + ((1 - centre.y) / 2) * rect.height };
  }

  dispose() {
    this.resizeObserver.disconnect();
    this.controls.dispose();
    this.renderer.dispose();
    this.renderer.domElement.remove();
  }
}

const SiteTwin3D = {
  state: { loaded: false, nodes: 0, colored: {}, error: null },
  viewer: null,
  // Mount a viewer in `element` (it fills the element's box). Resolves when the GLB and statuses are in.
  mount(element, options) {
    const viewer = new Viewer(element, options);
    this.viewer = viewer;
    this.state = viewer.state;
    return viewer.load();
  },
  pick(globalId) {
    return this.viewer ? this.viewer.pick(globalId) : false;
  },
  screenPoint(globalId) {
    return this.viewer ? this.viewer.screenPoint(globalId) : null;
  },
};

window.SiteTwin3D = SiteTwin3D;
export default SiteTwin3D;
