// Storey floor plan: the server's SVG (one <path data-gid> per element, metres, y down: world (x, y)
// is SVG (x - minX, maxY - y), see twin.plan.to_svg) coloured from status.json, with the capture
// path and frames over it.
(function () {
  "use strict";
  var root = document.getElementById("plan");
  if (!root) return;
  var SVG_NS = "http://www.w3.org/2000/svg";
  var elementUrl = root.dataset.element;

  function get(url, as) {
    return fetch(url, {credentials: "same-origin"}).then(function (r) {
      if (!r.ok) throw new Error(url + ": HTTP " + r.status);
      return as === "json" ? r.json() : r.text();
    });
  }

  function legend(status) {
    var list = document.getElementById("legend");
    list.innerHTML = "";
    Object.keys(status.labels).forEach(function (key) {
      if (!status.counts[key]) return;
      var item = document.createElement("li");
      item.dataset.status = key;
      item.innerHTML = '<span class="swatch" style="background:' + status.colors[key] + '"></span>';
      item.appendChild(document.createTextNode(status.labels[key] + " · " + status.counts[key]));
      list.appendChild(item);
    });
  }

  function frames(svg, status, scale) {
    var minX = parseFloat(svg.dataset.minX), maxY = parseFloat(svg.dataset.maxY);
    var sx = function (f) { return f.x - minX; }, sy = function (f) { return maxY - f.y; };
    var layer = document.createElementNS(SVG_NS, "g");
    layer.setAttribute("class", "frames");
    var byCapture = {};
    status.frames.forEach(function (f) { (byCapture[f.capture_id] = byCapture[f.capture_id] || []).push(f); });
    Object.keys(byCapture).forEach(function (id) {
      var list = byCapture[id].sort(function (a, b) { return a.index - b.index; });
      var line = document.createElementNS(SVG_NS, "polyline");
      line.setAttribute("class", "capture-path");
      line.setAttribute("points", list.map(function (f) { return sx(f) + "," + sy(f); }).join(" "));
      line.setAttribute("stroke-width", 0.08 * scale);
      layer.appendChild(line);
      list.forEach(function (f) {
        var dot = document.createElementNS(SVG_NS, "circle");
        dot.setAttribute("class", "frame-dot");
        dot.setAttribute("cx", sx(f));
        dot.setAttribute("cy", sy(f));
        dot.setAttribute("r", 0.25 * scale);
        var title = document.createElementNS(SVG_NS, "title");
        title.textContent = f.capture + " · frame " + f.index;
        dot.appendChild(title);
        layer.appendChild(dot);
      });
    });
    svg.appendChild(layer);
    document.getElementById("show-frames").addEventListener("change", function (e) {
      layer.style.display = e.target.checked ? "" : "none";
    });
  }

  Promise.all([get(root.dataset.svg, "text"), get(root.dataset.status, "json")]).then(function (parts) {
    root.innerHTML = parts[0];
    var svg = root.querySelector("svg");
    var status = parts[1];
    var colored = 0;
    svg.querySelectorAll("[data-gid]").forEach(function (path) {
      var s = status.elements[path.dataset.gid];
      if (!s) return;
      path.style.fill = status.colors[s];
      path.dataset.status = s;
      colored += 1;
    });
    var box = svg.viewBox.baseVal;
    frames(svg, status, Math.max(box.width, box.height) / 100);
    legend(status);
    var hover = document.getElementById("hover");
    svg.addEventListener("mouseover", function (e) {
      var gid = e.target.dataset && e.target.dataset.gid;
      if (gid) hover.textContent = (e.target.dataset.name || gid) + " · " + (status.labels[e.target.dataset.status] || "—");
    });
    svg.addEventListener("click", function (e) {
      var gid = e.target.dataset && e.target.dataset.gid;
      if (gid) window.location = elementUrl.replace("__GID__", encodeURIComponent(gid));
    });
    root.dataset.colored = String(colored);
    root.dataset.state = "ready";
  }).catch(function (error) {
    root.innerHTML = '<p class="error">The plan could not be loaded: ' + error.message + "</p>";
    root.dataset.state = "error";
  });
})();
