// Follow processing on the captures page: poll captures.json while any capture is queued or
// processing, update state and progress in place, and reload once to show new captures' results.
(function () {
  "use strict";
  var table = document.getElementById("captures");
  if (!table) return;
  var busy = function (state) { return state === "queued" || state === "processing" || state === "uploading"; };
  function tick() {
    fetch(table.dataset.poll, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (body) {
      var active = false, unknown = false;
      body.captures.forEach(function (c) {
        var row = table.querySelector('tr[data-capture="' + c.id + '"]');
        if (!row) { unknown = true; return; }
        var before = row.querySelector(".state .badge").textContent;
        row.querySelector(".state").innerHTML = '<span class="badge state-' + c.state + '">' + c.state + "</span>";
        row.querySelector("progress").value = c.progress;
        row.querySelector(".pct").textContent = Math.round(100 * c.progress) + "%";
        if (c.error) row.querySelector(".result").innerHTML = '<span class="bad"></span>', row.querySelector(".result .bad").textContent = c.error;
        if (busy(before) && !busy(c.state)) unknown = true;
        if (busy(c.state) && c.state !== "uploading") active = true;
      });
      if (unknown) { window.location.reload(); return; }
      window.setTimeout(tick, active ? 1500 : 10000);
    }).catch(function () { window.setTimeout(tick, 10000); });
  }
  window.setTimeout(tick, 1500);
})();
