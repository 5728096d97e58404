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
