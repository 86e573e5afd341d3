// Reading back the launchd plists Gangway writes (helper/service/service-darwin.ts): the program they start.
// Read by the helper's service audit and by the app, which finds its installed copy there to uninstall it.
import { xmlUnescape } from './xml-escape';

/** The first two ProgramArguments of a launchd plist (the runtime and the CLI), XML-unescaped. */
export function plistPrograms(plist: string): string[] {
  const array = /<key>ProgramArguments<\/key>\s*<array>([\s\S]*?)<\/array>/.exec(plist)?.[1] ?? '';
  return [...array.matchAll(/<string>([^<]*)<\/string>/g)].slice(0, 2).map((m) => xmlUnescape(m[1]!));
}
