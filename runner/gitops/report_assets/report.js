(function () {
  "use strict";
  var table = document.getElementById("sample-rows");
  if (!table) { return; }
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var status = document.getElementById("filter-status");
  var search = document.getElementById("filter-id");
  var shown = document.getElementById("sample-shown");
  function apply() {
    var wanted = status.value;
    var text = search.value.trim().toLowerCase();
    var count = 0;
    rows.forEach(function (row) {
      var keep = (!wanted || row.getAttribute("data-status") === wanted) &&
        (!text || row.getAttribute("data-id").toLowerCase().indexOf(text) !== -1);
      row.hidden = !keep;
      if (keep) { count += 1; }
    });
    shown.textContent = "showing " + count + " of " + rows.length + " sample rows";
  }
  status.addEventListener("change", apply);
  search.addEventListener("input", apply);
  apply();
}());
