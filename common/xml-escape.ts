// XML text and attribute escaping for the plists Gangway writes (launchd's, and the app's SMAppService one),
// and its inverse for reading them back (plist-programs.ts).
/** Escapes text for XML character data and attribute values. */
export function xmlEscape(s: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/.test(s)) {
    throw new Error(`character not allowed in XML: ${JSON.stringify(s)}`);
  }
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** The inverse of xmlEscape (the five entities; `&amp;` last, so `&amp;lt;` stays `&lt;`). */
export function xmlUnescape(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}
