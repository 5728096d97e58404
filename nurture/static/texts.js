// The studio's text editor: count SMS segments as the wording is typed (GSM-7 or UCS-2).
(function () {
  "use strict";
  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ ÆæßÉ!\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENDED = "^{}\\[~]|€\f";
  function count(text) {
    var gsm = true, units = 0, i, c;
    for (i = 0; i < text.length; i++) {
      c = text.charAt(i);
      if (EXTENDED.indexOf(c) >= 0) { units += 2; } else if (BASIC.indexOf(c) >= 0) { units += 1; } else { gsm = false; break; }
    }
    if (!gsm) { units = text.length; }  // UTF-16 code units, as carriers count UCS-2
    var single = gsm ? 160 : 70, multi = gsm ? 153 : 67;
    var segments = units === 0 ? 0 : (units <= single ? 1 : Math.ceil(units / multi));
    return {encoding: gsm ? "GSM-7" : "UCS-2", units: units, segments: segments};
  }
  document.querySelectorAll("textarea[data-segments]").forEach(function (area) {
    var out = document.getElementById(area.getAttribute("data-segments"));
    var note = area.hasAttribute("data-segments-note") ? area.getAttribute("data-segments-note") :
      " Placeholders count as typed; the rendered text is shown below after saving.";
    function update() {
      var n = count(area.value);
      out.textContent = "As typed: " + n.units + " characters (" + n.encoding + "): " +
        n.segments + " segment(s)" + (n.segments > 1 ? ", aim for one" : "") + "." + note;
    }
    area.addEventListener("input", update);
  });
})();
