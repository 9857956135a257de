// The human-input form, generated from the step's input JSON Schema: booleans become checkboxes,
// enums selects, strings text fields, numbers number fields; anything else (arrays, nested
// objects, unions) is edited as JSON. The server validates the answer against the same schema;
// its reasons are shown next to the form and the run stays paused.
import { api, h, runApi } from './dom.js';

function kindOf(schema) {
  if (!schema || typeof schema !== 'object') return 'json';
  if (
    Array.isArray(schema.enum) &&
    schema.enum.every((v) => ['string', 'number'].includes(typeof v))
  )
    return 'enum';
  if (schema.const !== undefined) return 'json';
  const t = Array.isArray(schema.type) ? schema.type.filter((x) => x !== 'null') : [schema.type];
  if (t.length !== 1) return 'json';
  return (
    { boolean: 'boolean', string: 'string', number: 'number', integer: 'integer' }[t[0]] ?? 'json'
  );
}

function fieldFor(name, schema, required, id) {
  const kind = kindOf(schema);
  const label = schema?.title ?? name;
  const help = schema?.description ? h('small', { class: 'help' }, schema.description) : null;
  const req = required ? h('span', { class: 'req', title: 'required' }, '*') : null;
  let input;
  if (kind === 'boolean') {
    input = h('input', { type: 'checkbox', id, name, checked: schema.default === true });
    return {
      kind,
      input,
      el: h('div', { class: 'field check' }, input, h('label', { for: id }, label, req), help),
    };
  }
  if (kind === 'enum') {
    input = h(
      'select',
      { id, name },
      required ? null : h('option', { value: '' }, '—'),
      schema.enum.map((v) =>
        h('option', { value: String(v), selected: schema.default === v }, String(v)),
      ),
    );
  } else if (kind === 'string') {
    const long = (schema.maxLength ?? 0) > 200 || schema.format === 'textarea';
    input = h(long ? 'textarea' : 'input', {
      id,
      name,
      type: long ? undefined : 'text',
      value: typeof schema.default === 'string' ? schema.default : '',
      minlength: schema.minLength,
      maxlength: schema.maxLength,
      placeholder: schema.examples?.[0],
    });
  } else if (kind === 'number' || kind === 'integer') {
    input = h('input', {
      id,
      name,
      type: 'number',
      step: kind === 'integer' ? '1' : 'any',
      min: schema.minimum,
      max: schema.maximum,
      value: typeof schema.default === 'number' ? String(schema.default) : '',
    });
  } else {
    input = h('textarea', {
      id,
      name,
      class: 'json',
      rows: 4,
      value: schema?.default !== undefined ? JSON.stringify(schema.default, null, 2) : '',
    });
  }
  return {
    kind,
    input,
    el: h(
      'div',
      { class: 'field' },
      h('label', { for: id }, label, req, kind === 'json' ? h('em', {}, ' (JSON)') : null),
      input,
      help,
    ),
  };
}

/** Reads one field; `undefined` leaves an optional property out. */
function valueOf(f, enumValues) {
  const raw = f.input.value;
  if (f.kind === 'boolean') return f.input.checked;
  if (f.kind === 'enum') {
    if (raw === '') return undefined;
    return enumValues.find((v) => String(v) === raw);
  }
  if (f.kind === 'number' || f.kind === 'integer') return raw === '' ? undefined : Number(raw);
  if (f.kind === 'string') return raw;
  if (raw.trim() === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch (e) {
    throw new Error((f.input.name || 'answer') + ': not valid JSON (' + e.message + ')');
  }
}

let seq = 0;

/** A form answering `item` (a pending HITL row); `onDone(result)` after the server accepts. */
export function hitlForm(item, onDone) {
  const schema = item.inputSchema ?? {};
  const prefix = 'f' + ++seq + '-';
  const fields = [];
  const body = [];
  const objectForm =
    schema.type === 'object' && schema.properties && typeof schema.properties === 'object';
  if (objectForm) {
    const required = new Set(schema.required ?? []);
    for (const [name, sub] of Object.entries(schema.properties)) {
      const f = fieldFor(name, sub, required.has(name), prefix + name);
      fields.push({ name, sub, ...f });
      body.push(f.el);
    }
  } else {
    const f = fieldFor('answer', schema, true, prefix + 'answer');
    fields.push({ name: null, sub: schema, ...f });
    body.push(f.el);
  }
  const errors = h('ul', { class: 'form-errors', role: 'alert' });
  const by = h('input', {
    name: 'by',
    id: prefix + 'by',
    placeholder: 'your name (recorded)',
    'aria-label': 'answered by',
  });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Approve and resume');

  const form = h(
    'form',
    // novalidate: the server checks the answer against the schema and its reasons are the ones
    // shown, so the browser's own (partial) checks do not hide them.
    { class: 'hitl-form', 'data-run': item.runId, novalidate: true },
    body,
    h('div', { class: 'field by' }, h('label', { for: prefix + 'by' }, 'Answered by'), by),
    errors,
    h('div', { class: 'actions' }, submit),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    errors.replaceChildren();
    let input;
    try {
      if (objectForm) {
        input = {};
        for (const f of fields) {
          const v = valueOf(f, f.sub?.enum ?? []);
          if (v !== undefined) input[f.name] = v;
        }
      } else {
        input = valueOf(fields[0], schema.enum ?? []);
      }
    } catch (e) {
      errors.append(h('li', {}, e.message));
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Resuming…';
    try {
      const result = await api(runApi(item.runId, '/resume'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          input,
          // This form's own question: several may be open at once (branches, map items).
          ...(item.path ? { question: item.path } : {}),
          ...(by.value.trim() ? { by: by.value.trim() } : {}),
        }),
      });
      onDone(result);
    } catch (e) {
      const reasons = e.reasons?.length ? e.reasons : [e.message];
      errors.append(h('li', { class: 'lead' }, 'Not accepted; the run is still paused:'));
      for (const r of reasons) errors.append(h('li', {}, r));
      submit.disabled = false;
      submit.textContent = 'Approve and resume';
    }
  });
  return form;
}
