// The leads list. Without this file every box is ticked by hand and "all N matching this filter"
// still reaches every lead; with it, one box ticks the whole page and a count says how many.
(() => {
  const page = document.querySelector('[data-tick-page]');
  const bulk = document.getElementById('bulk');
  if (!page || !bulk) return;
  const boxes = () => Array.from(document.querySelectorAll('input[name="lead"][form="bulk"]'));
  const onlyTicked = bulk.querySelector('input[name="scope"][value="ticked"]');
  const count = bulk.querySelector('[data-ticked-count]');

  const show = () => {
    const all = boxes();
    const ticked = all.filter((box) => box.checked).length;
    if (count) count.textContent = ticked ? `(${ticked} ticked)` : '';
    page.checked = ticked > 0 && ticked === all.length;
    page.indeterminate = ticked > 0 && ticked < all.length;
  };

  page.hidden = false;
  page.addEventListener('change', () => {
    for (const box of boxes()) box.checked = page.checked;
    if (onlyTicked) onlyTicked.checked = true;
    show();
  });
  document.addEventListener('change', (event) => {
    const box = event.target;
    if (!(box instanceof HTMLInputElement) || box.name !== 'lead') return;
    // Ticking a lead means "these ones", not "everyone the filter picks".
    if (onlyTicked) onlyTicked.checked = true;
    show();
  });
  show();
})();
