// A language tab: re-render the translation beside the original as it is typed, like the
// step editor's live preview (the same checks, nothing saved).
(() => {
  const form = document.getElementById('translation-form');
  const box = document.getElementById('translation-preview');
  if (!form || !box) return;
  const url = box.dataset.preview;
  const token = form.querySelector('input[name=csrftoken]').value;
  const frame = document.getElementById('preview-frame');
  const lines = document.getElementById('preview-heading-lines');
  const status = document.getElementById('preview-status');
  const list = document.getElementById('preview-problems');
  let timer = null, seq = 0;

  async function render() {
    const mine = ++seq;
    status.textContent = 'Rendering…';
    let result;
    try {
      const response = await fetch(url, {method: 'POST', body: new FormData(form), headers: {'x-csrftoken': token}, credentials: 'same-origin'});
      if (!response.ok) throw new Error('status ' + response.status + '; reload the page');
      result = await response.json();
    } catch (e) {
      if (mine === seq) status.textContent = 'Preview failed: ' + e.message;
      return;
    }
    if (mine !== seq) return;
    list.replaceChildren(...result.problems.map(p => { const li = document.createElement('li'); li.className = p.severity || 'error'; li.textContent = p.message; return li; }));
    const shown = result.html !== undefined;
    // A translation that does not render never leaves the last good render on screen.
    lines.hidden = frame.hidden = !shown;
    frame.srcdoc = shown ? result.html : '';
    document.getElementById('preview-subject').textContent = shown ? result.subject : '';
    document.getElementById('preview-preheader').textContent = shown ? result.preheader : '';
    if (!shown) status.textContent = result.problems.length ? 'Not rendered: fix the problems listed below.' : 'The email shows here as you write it.';
    else status.textContent = result.problems.length ? 'Rendered, with ' + result.problems.length + ' problem(s) listed below.' : 'Rendered. No problems found.';
  }

  const later = () => { clearTimeout(timer); timer = setTimeout(render, 300); };
  form.addEventListener('input', later);
  form.addEventListener('change', later);
})();
