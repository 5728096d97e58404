// Start the time zone list at the visitor's own zone, and move focus to the error summary
// after a failed submit. Without JavaScript the list starts at the clinic's zone instead.
(function () {
  var tz = document.getElementById("timezone");
  var summary = document.getElementById("error-summary");
  if (tz && !summary && tz.value === tz.getAttribute("data-clinic-zone")) {
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) {}
    if (zone) {
      var known = false;
      for (var i = 0; i < tz.options.length; i++) {
        if (tz.options[i].value === zone) { known = true; break; }
      }
      if (!known) {
        // An older name for a zone (Asia/Calcutta, say): offer it as it is; the server knows it.
        var option = document.createElement("option");
        option.value = zone;
        option.textContent = zone;
        tz.insertBefore(option, tz.firstChild);
      }
      tz.value = zone;
    }
  }
  if (summary) { summary.focus(); }
})();
