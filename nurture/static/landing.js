// Guess the visitor's time zone, and move focus to the error summary after a failed submit.
(function () {
  var tz = document.getElementById("timezone");
  if (tz && !tz.value) {
    try { tz.value = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) {}
  }
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
