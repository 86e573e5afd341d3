// Where Gangway must not be installed from: shared by the app (before it asks for a password) and the CLI.
/** A path the app must not be installed from: a mounted disk image or App Translocation's random copy,
 *  which vanish (or move) after the install. */
export function transientLocation(path: string): string | undefined {
  if (/^\/Volumes\//.test(path))
    return `${path} is on a mounted disk image (/Volumes): move Gangway to Applications first`;
  if (/\/AppTranslocation\//.test(path))
    return `${path} is a translocated copy (macOS runs apps from a random path until they are moved): move Gangway to Applications first`;
  return undefined;
}
