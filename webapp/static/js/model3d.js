// The 3D twin page: mounts the viewer on #twin3d and fills the legend. Its URLs come from the element's
// data- attributes (no inline script: the Content-Security-Policy allows script files from this site only).
(function () {
  var root = document.getElementById("twin3d");
  var statusUrl = root.dataset.statusUrl;
  window.SiteTwin3D.mount(root, {
    glbUrl: root.dataset.glbUrl,
    statusUrl: statusUrl,
    elementUrl: root.dataset.elementUrl
  });
  fetch(statusUrl, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (s) {
    var legend = document.getElementById("legend");
    Object.keys(s.labels).forEach(function (k) {
      if (!s.counts[k]) return;
      var li = document.createElement("li");
      li.innerHTML = '<span class="swatch" style="background:' + s.colors[k] + '"></span>';
      li.appendChild(document.createTextNode(s.labels[k] + " · " + s.counts[k]));
      legend.appendChild(li);
    });
  });
})();
