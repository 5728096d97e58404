// Every studio page. Behaviour hangs off data- attributes because the CSP allows no inline script.
//
// data-confirm="question" on a form, or on the button that submits it: ask before a destructive
// change (discarding a draft, cancelling a visit, unsubscribing someone).
// data-guard on a form, or on a single field: warn before leaving the page with its edits unsaved.
(() => {
  const changed = new Set();

  // data-guard="off" on a field exempts it (a preview control that belongs to a guarded form).
  const guarded = (field) =>
    field instanceof Element &&
    field.dataset.guard !== 'off' &&
    (field.hasAttribute('data-guard') || Boolean(field.form && field.form.hasAttribute('data-guard')));

  const note = (event) => {
    if (guarded(event.target)) changed.add(event.target);
  };
  document.addEventListener('input', note);
  document.addEventListener('change', note);

  document.addEventListener('submit', (event) => {
    const form = event.target;
    const button = event.submitter;
    const message = (button && button.dataset.confirm) || form.dataset.confirm;
    if (message && !window.confirm(message)) {
      event.preventDefault();
      return;
    }
    // Submitting saves this form's fields, so leaving for the answer must not warn about them.
    for (const field of Array.from(changed)) {
      if (field.form === form || field === form) changed.delete(field);
    }
  });

  window.addEventListener('beforeunload', (event) => {
    if (changed.size === 0) return;
    event.preventDefault();
    event.returnValue = '';  // older browsers show the dialog only when this is set
  });
})();

// On a phone, tables read as stacked cards: each cell is labelled with its column's heading.
(() => {
  for (const table of document.querySelectorAll('main table')) {
    const head = table.tHead && table.tHead.rows[table.tHead.rows.length - 1];
    if (!head) continue;
    const labels = [];
    for (const cell of head.cells) {
      // A heading with more in it than its name (a control, words for a phone) names itself.
      const label = cell.dataset.label ?? cell.textContent.trim();
      for (let i = 0; i < cell.colSpan; i++) labels.push(label);
    }
    for (const body of [...table.tBodies, ...(table.tFoot ? [table.tFoot] : [])]) {
      for (const row of body.rows) {
        let column = 0;
        for (const cell of row.cells) {
          if (!cell.hasAttribute('data-label')) cell.setAttribute('data-label', labels[column] || '');
          column += cell.colSpan;
        }
      }
    }
    table.setAttribute('data-stacked', '');
  }
})();

// A colour picker beside a colour typed as #rrggbb: each follows the other.
(() => {
  for (const picker of document.querySelectorAll('input[type=color][data-colour-for]')) {
    const field = document.getElementById(picker.dataset.colourFor);
    if (!field) continue;
    picker.addEventListener('input', () => {
      field.value = picker.value;
      field.dispatchEvent(new Event('input', {bubbles: true}));
    });
    field.addEventListener('input', () => {
      if (/^#[0-9a-f]{6}$/i.test(field.value.trim())) picker.value = field.value.trim().toLowerCase();
    });
  }
})();
