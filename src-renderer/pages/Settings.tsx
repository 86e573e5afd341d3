// Settings: every field checked as it is typed (the daemon's own schema), an inline error per field, Save
// disabled while anything is invalid; the daemon's per-field answer is shown inline as well.
import { useEffect, useState } from 'react';
import { useGangway } from '../store';
import {
  SETTINGS_FIELDS,
  draftErrors,
  draftFrom,
  patchFrom,
  type Draft,
  type TextField,
} from '../settings-form';

export function Settings() {
  const { data, error } = useGangway((s) => s.settings);
  const load = useGangway((s) => s.load);
  const save = useGangway((s) => s.saveSettings);
  const saving = useGangway((s) => s.busy.settings ?? false);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [serverErrors, setServerErrors] = useState<Record<string, string>>({});
  const [saved, setSaved] = useState(false);

  useEffect(() => void load('settings'), [load]);
  useEffect(() => {
    if (data) setDraft(draftFrom(data.settings));
  }, [data]);

  if (error?.status === 404)
    return (
      <p className="banner warn" role="status">
        This helper cannot change settings yet — update it.
      </p>
    );
  if (error && !data) return <p className="banner error">{error.message}</p>;
  if (!data || !draft) return <p>Asking the helper…</p>;

  const errors: Record<string, string | undefined> = { ...serverErrors, ...draftErrors(draft) };
  const invalid = Object.values(errors).some(Boolean);
  const patch = invalid ? {} : patchFrom(draft, data.settings);
  const changed = Object.keys(patch).length > 0;
  const edit = (key: TextField | 'routeNewNetworks', value: string | boolean) => {
    setSaved(false);
    setServerErrors(({ [key]: _gone, ...rest }) => rest);
    setDraft({ ...draft, [key]: value });
  };

  return (
    <form
      className="settings"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        if (invalid || !changed) return;
        void save(patch).then((fields) => {
          if (fields) setServerErrors(fields);
          else setSaved(true);
        });
      }}
    >
      {data.warning && (
        <p className="banner warn" role="alert">
          {data.warning}
        </p>
      )}
      {SETTINGS_FIELDS.map((f) => {
        const err = errors[f.key];
        return (
          <div className="field" key={f.key}>
            <label htmlFor={`setting-${f.key}`}>{f.label}</label>
            <input
              id={`setting-${f.key}`}
              name={f.key}
              type="text"
              inputMode={f.kind === 'number' ? 'numeric' : undefined}
              value={draft[f.key]}
              aria-invalid={err ? true : undefined}
              aria-describedby={`setting-${f.key}-help${err ? ` setting-${f.key}-error` : ''}`}
              onChange={(e) => edit(f.key, e.target.value)}
            />
            <span id={`setting-${f.key}-help`} className="help">
              {f.help}
            </span>
            {err && (
              <span id={`setting-${f.key}-error`} className="field-error" role="alert">
                {err}
              </span>
            )}
          </div>
        );
      })}
      <label className="option">
        <input
          type="checkbox"
          checked={draft.routeNewNetworks}
          onChange={(e) => edit('routeNewNetworks', e.target.checked)}
        />
        Route new networks automatically
      </label>
      <div className="actions">
        <button type="submit" className="primary" disabled={invalid || !changed || saving}>
          {saving ? 'Saving…' : 'Save'}
        </button>
        <button
          type="button"
          disabled={!changed && !invalid}
          onClick={() => {
            setServerErrors({});
            setDraft(draftFrom(data.settings));
          }}
        >
          Revert
        </button>
        {saved && <span role="status">Saved.</span>}
      </div>
    </form>
  );
}
