// The step editor: the Markdown toolbar, and the live preview that re-renders on every edit.
// The broadcast editor uses it too: same toolbar and preview, no sample-lead choice or HTML mode.
// So does a variant of a step's A/B test, whose body may also be the step's own (format "step").
(() => {
  const form = document.getElementById('step-form') || document.getElementById('broadcast-form');
  const url = form.action + '/preview';
  const token = form.querySelector('input[name=csrftoken]').value;
  const frame = document.getElementById('preview-frame');
  const textPart = document.getElementById('preview-text');
  const failure = document.getElementById('preview-error');
  const status = document.getElementById('preview-status');
  const list = document.getElementById('preview-problems');
  const markdown = document.getElementById('markdown');
  const html = document.getElementById('html');
  let timer = null, seq = 0;

  const inMarkdown = () => form.querySelector('input[name=format]:checked').value === 'markdown';
  const showingText = () => document.querySelector('input[name=part]:checked').value === 'text';

  // A draft that does not render must never leave the last good render on screen.
  function showRender(ok, message) {
    failure.hidden = ok;
    frame.hidden = !ok || showingText();
    textPart.hidden = !ok || !showingText();
    if (!ok) {
      frame.srcdoc = '';
      textPart.textContent = '';
      document.getElementById('preview-subject').textContent = '';
      document.getElementById('preview-preheader').textContent = '';
      failure.firstElementChild.textContent = message;
    }
  }

  async function render(extra) {
    const mine = ++seq;
    const data = new FormData(form);
    if (extra) for (const [k, v] of Object.entries(extra)) data.set(k, v);
    status.textContent = 'Rendering…';
    let result;
    try {
      const response = await fetch(url, {method: 'POST', body: data, headers: {'x-csrftoken': token}, credentials: 'same-origin'});
      if (!response.ok) {
        if (mine === seq) { status.textContent = 'Preview failed (' + response.status + '). Reload the page.'; showRender(false, 'The preview failed (' + response.status + '); reload the page.'); }
        return null;
      }
      result = await response.json();
    } catch (e) {
      if (mine === seq) { status.textContent = 'Preview failed: ' + e; showRender(false, 'The preview failed: ' + e); }
      return null;
    }
    if (mine !== seq) return null;
    list.replaceChildren(...result.problems.map(p => { const li = document.createElement('li'); li.className = p.severity || 'error'; li.textContent = p.message; return li; }));
    // The advanced HTML mode starts from what the Markdown makes.
    if (result.body_html !== undefined && inMarkdown()) html.value = result.body_html;
    if (result.html !== undefined) {
      // Shown before it is filled: Chromium can leave a frame blank that loads while hidden.
      showRender(true);
      frame.srcdoc = result.html;
      textPart.textContent = result.text;
      document.getElementById('preview-subject').textContent = 'Subject: ' + result.subject;
      document.getElementById('preview-preheader').textContent = result.preheader;
      status.textContent = result.problems.length ? 'Rendered, with ' + result.problems.length + ' problem(s) listed below.' : 'Rendered. No problems found.';
    } else {
      showRender(false, 'This draft does not render, so there is nothing to preview: fix the problems listed above.');
      status.textContent = 'Not rendered: fix the problems listed below.';
    }
    return result;
  }

  // Wrap the selection in `before`/`after`, or insert `empty` (with its middle selected).
  function wrap(before, after, empty) {
    const start = markdown.selectionStart, end = markdown.selectionEnd;
    const chosen = markdown.value.slice(start, end);
    const middle = chosen || empty;
    markdown.setRangeText(before + middle + after, start, end, 'end');
    markdown.setSelectionRange(start + before.length, start + before.length + middle.length);
    markdown.focus();
    markdown.dispatchEvent(new Event('input', {bubbles: true}));
  }

  // Put `prefix` at the start of every selected line.
  function prefixLines(prefix, empty) {
    const start = markdown.value.lastIndexOf('\n', markdown.selectionStart - 1) + 1;
    const end = markdown.selectionEnd;
    const lines = (markdown.value.slice(start, end) || empty).split('\n');
    const text = lines.map(line => line.startsWith(prefix) ? line : prefix + line).join('\n');
    markdown.setRangeText(text, start, end, 'end');
    markdown.focus();
    markdown.dispatchEvent(new Event('input', {bubbles: true}));
  }

  // A button stands on its own line, so it becomes a paragraph of its own.
  function ownLine(text) {
    const start = markdown.selectionStart, end = markdown.selectionEnd;
    const label = markdown.value.slice(start, end) || 'Book an assessment';
    const before = start > 0 && markdown.value[start - 1] !== '\n' ? '\n\n' : '';
    const after = markdown.value[end] === '\n' ? '' : '\n';
    markdown.setRangeText(before + text(label) + after, start, end, 'end');
    markdown.focus();
    markdown.dispatchEvent(new Event('input', {bubbles: true}));
  }

  // The Link button asks where the link goes, and inserts nothing until it has an address.
  const linkDialog = document.getElementById('md-link-dialog');
  const linkUrl = document.getElementById('md-link-url');
  const linkProblem = document.getElementById('md-link-problem');
  let linkRange = null;
  const workingLink = (url) =>
    /^https:\/\/[^\/\s?#]+\.[^\/\s?#]+/i.test(url) || /^(mailto|tel):\S+/i.test(url) ||
    /^\{\{\s*[a-z_.]+\s*\}\}$/.test(url);
  function askForLink() {
    linkRange = [markdown.selectionStart, markdown.selectionEnd];
    linkUrl.value = '';
    linkProblem.hidden = true;
    linkDialog.showModal();
    linkUrl.focus();
  }
  function insertLink() {
    const url = linkUrl.value.trim();
    if (!workingLink(url)) {
      linkProblem.hidden = false;
      linkUrl.focus();
      return;
    }
    linkDialog.close();
    markdown.setSelectionRange(linkRange[0], linkRange[1]);
    wrap('[', '](' + url + ')', 'link words');
  }
  if (linkDialog) {
    document.getElementById('md-link-insert').addEventListener('click', insertLink);
    document.getElementById('md-link-cancel').addEventListener('click', () => { linkDialog.close(); markdown.focus(); });
    linkUrl.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); insertLink(); } });
    document.getElementById('md-link-variable').addEventListener('change', (e) => { if (e.target.value) { linkUrl.value = '{{ ' + e.target.value + ' }}'; e.target.value = ''; } });
  }

  const actions = {
    heading: () => prefixLines('## ', ''),
    bold: () => wrap('**', '**', 'bold words'),
    italic: () => wrap('*', '*', 'italic words'),
    link: askForLink,
    list: () => prefixLines('- ', 'List item'),
    button: () => ownLine(label => '[[button: ' + label + ' | {{ booking_url }}]]'),
  };
  document.querySelectorAll('[data-md]').forEach(b => b.addEventListener('click', () => actions[b.dataset.md]()));
  const variable = document.getElementById('md-variable');
  variable.addEventListener('change', () => {
    if (!variable.value) return;
    const start = markdown.selectionStart;
    markdown.setRangeText('{{ ' + variable.value + ' }}', start, markdown.selectionEnd, 'end');
    variable.value = '';
    markdown.focus();
    markdown.dispatchEvent(new Event('input', {bubbles: true}));
  });

  // Show the body field of the chosen format. A page may render every body field for use
  // without JavaScript, so the choice is applied once at load as well.
  function showFormat() {
    const chosen = form.querySelector('input[name=format]:checked');
    if (!chosen) return;
    document.getElementById('markdown-body').hidden = chosen.value !== 'markdown';
    document.getElementById('html-body').hidden = chosen.value !== 'html';
  }
  // Ticking Markdown on a step written in HTML converts the HTML, after saying what would be
  // lost; declining keeps the HTML.
  async function toMarkdown() {
    const response = await fetch('/studio/markdown/from-html', {method: 'POST', body: new URLSearchParams({html: html.value}), headers: {'x-csrftoken': token}, credentials: 'same-origin'});
    if (!response.ok) throw new Error('the conversion failed (' + response.status + ')');
    return response.json();
  }
  async function formatChanged(event) {
    const radio = event.target;
    if (radio.value === 'markdown' && radio.checked && html && !markdown.value.trim() && html.value.trim()) {
      const keepHtml = () => { form.querySelector('input[name=format][value=html]').checked = true; showFormat(); };
      let result;
      try {
        result = await toMarkdown();
      } catch (e) {
        window.alert('This email could not be converted to Markdown: ' + e.message + '. It stays in HTML.');
        keepHtml();
        return;
      }
      if (result.losses.length && !window.confirm('Markdown cannot keep everything in this email. It would lose: ' + result.losses.join('; ') + '.\n\nSwitch to Markdown anyway? Cancel keeps the HTML.')) {
        keepHtml();
        return;
      }
      markdown.value = result.markdown;
      markdown.dispatchEvent(new Event('input', {bubbles: true}));
    }
    showFormat();
  }
  form.querySelectorAll('input[name=format]').forEach(r => r.addEventListener('change', formatChanged));
  showFormat();
  form.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(render, 350); });
  const sample = document.getElementById('numbness_type');
  if (sample) sample.addEventListener('change', () => render());
  const variant = document.getElementById('variant');  // which arm of a test the preview shows
  if (variant) variant.addEventListener('change', () => render());
  document.querySelectorAll('input[name=width]').forEach(r => r.addEventListener('change', () => frame.classList.toggle('phone', r.value === 'phone' && r.checked)));
  document.querySelectorAll('input[name=part]').forEach(r => r.addEventListener('change', () => { if (failure.hidden) { frame.hidden = showingText(); textPart.hidden = !showingText(); } }));
  const fill = document.getElementById('fill-text');
  if (fill) fill.addEventListener('click', async () => {
    const result = await render({fill_text: '1'});
    if (result && result.derived_text !== undefined) { document.getElementById('text').value = result.derived_text; render(); }
  });
  render();
})();

// The broadcast editor counts who the chosen group reaches while it is being chosen (a GET:
// counting changes nothing).
(() => {
  const out = document.getElementById('audience-count');
  const form = document.getElementById('broadcast-form');
  if (!out || !form) return;
  const names = ['numbness_type', 'status', 'booked', 'last_visit_before', 'signed_up_from', 'signed_up_to', 'sequence', 'tag'];
  let timer = null, seq = 0;
  async function count() {
    const mine = ++seq;
    const query = new URLSearchParams();
    for (const [name, value] of new FormData(form)) if (names.includes(name)) query.append(name, value);
    try {
      const response = await fetch(out.dataset.url + '?' + query, {credentials: 'same-origin'});
      const result = await response.json();
      if (mine !== seq) return;
      out.textContent = response.ok ? result.words : 'Not counted: ' + Object.values(result.errors || {}).join(' ');
    } catch (e) {
      if (mine === seq) out.textContent = 'Not counted: ' + e;
    }
  }
  form.addEventListener('change', (event) => { if (names.includes(event.target.name)) { clearTimeout(timer); timer = setTimeout(count, 200); } });
  count();
})();
