(() => {
  // Run by tests/studio/test_browser_phone.py on each studio page: what does not fit.
  const found = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth) found.push('the page scrolls sideways: ' + doc.scrollWidth + 'px');
  for (const box of document.querySelectorAll('.table-scroll')) {
    if (box.scrollWidth > box.clientWidth + 1) found.push('a table scrolls sideways: ' + box.textContent.trim().slice(0, 60));
  }
  for (const cell of document.querySelectorAll('main td, main th')) {
    const box = cell.getBoundingClientRect();
    if (box.width <= 2 || box.height <= 2) continue;  // hidden, such as a card list's headings
    const style = getComputedStyle(cell);
    const room = cell.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    if (cell.scrollWidth > cell.clientWidth + 1) found.push('cell too wide: ' + cell.textContent.trim().slice(0, 60));
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const re = /\S+/g;
      let m;
      while ((m = re.exec(node.data))) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const rects = Array.from(range.getClientRects()).filter(r => r.width > 0);
        const lines = new Set(rects.map(r => Math.round(r.top)));
        const width = rects.reduce((sum, r) => sum + r.width, 0);
        // Only a word that would fit the cell on one line counts: an address longer than a
        // phone is wide has to wrap somewhere.
        if (lines.size > 1 && width <= room) found.push('word broken: ' + m[0] + ' (' + Math.round(width) + 'px in ' + Math.round(room) + 'px)');
      }
    }
  }
  // Every control in a table is on screen and on top where it is drawn: a finger that taps its
  // middle reaches it (or its label), not a card drawn over it. A control the keyboard can reach
  // but that is drawn in a pixel or less is out of reach too.
  const controls = 'main table :is(a[href], button, select, textarea, input:not([type=hidden]))';
  for (const control of document.querySelectorAll(controls)) {
    if (control.closest('[hidden]') || control.getClientRects().length === 0) continue;
    if (getComputedStyle(control).visibility !== 'visible') continue;
    const name = control.getAttribute('aria-label') || control.textContent.trim().slice(0, 40) || control.name;
    let box = control.getBoundingClientRect();
    if (box.width <= 2 || box.height <= 2) {
      found.push('a control drawn in a pixel: ' + name);
      continue;
    }
    control.scrollIntoView({block: 'center', inline: 'center'});
    box = control.getClientRects()[0];  // a link that wraps: the middle of its first line
    const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    const reached = hit && (control.contains(hit) || (hit.closest('label') && hit.closest('label').control === control));
    if (!reached) found.push('a control covered by ' + (hit ? hit.tagName.toLowerCase() : 'nothing') + ': ' + name);
  }
  window.scrollTo(0, 0);
  return found;
})
