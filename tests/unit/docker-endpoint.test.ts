// Every way of finding Docker, each against a temporary home directory laid out like the docker CLI's.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  DockerEndpointError,
  invokingUserHome,
  parseDockerHost,
  resolveDockerEndpoint,
  type EndpointEnv,
  cleartextWarning,
} from '../../helper/docker/docker-endpoint';
import { listDir, ownerOf } from '../../helper/docker/docker-locate';

const root = mkdtempSync(join(tmpdir(), 'gw-endpoint-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

function home(): string {
  const dir = join(root, `home${n++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function put(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

function addContext(h: string, name: string, host: string, tls = false): void {
  const id = createHash('sha256').update(name).digest('hex');
  put(
    join(h, '.docker', 'contexts', 'meta', id, 'meta.json'),
    JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: host, SkipTLSVerify: false } } }),
  );
  if (tls)
    for (const f of ['ca.pem', 'cert.pem', 'key.pem'])
      put(join(h, '.docker', 'contexts', 'tls', id, 'docker', f), `${f} of ${name}`);
}

/** No system socket exists, whatever this machine has: only files under the temp dir count. */
function env(
  h: string,
  extra: NodeJS.ProcessEnv = {},
  more: Partial<EndpointEnv> = {},
): Partial<EndpointEnv> {
  return {
    env: { HOME: h, ...extra },
    platform: 'linux',
    exists: (p) => p.startsWith(root) && existsSync(p),
    passwdFile: join(root, 'no-passwd'),
    consoleFile: join(root, 'no-console'),
    usersDir: join(root, 'no-users'),
    ...more,
  };
}

test('--docker-host wins over DOCKER_HOST and the context', () => {
  const h = home();
  put(join(h, '.docker', 'config.json'), JSON.stringify({ currentContext: 'colima' }));
  addContext(h, 'colima', 'unix:///ctx.sock');
  const e = resolveDockerEndpoint('unix:///opt/d.sock', env(h, { DOCKER_HOST: 'tcp://1.2.3.4:2375' }));
  assert.equal(e.source, 'option');
  assert.deepEqual(e.options, { socketPath: '/opt/d.sock' });
});

test('DOCKER_HOST wins over the context; tcp:// becomes host, port and protocol', () => {
  const h = home();
  put(join(h, '.docker', 'config.json'), JSON.stringify({ currentContext: 'colima' }));
  addContext(h, 'colima', 'unix:///ctx.sock');
  const e = resolveDockerEndpoint(undefined, env(h, { DOCKER_HOST: 'tcp://10.0.0.5:2375' }));
  assert.equal(e.source, 'env');
  assert.deepEqual(e.options, { protocol: 'http', host: '10.0.0.5', port: 2375 });
  // Without TLS the agent's secret would cross it in clear: status and doctor say so.
  assert.match(
    cleartextWarning(e) ?? '',
    /tcp:\/\/10\.0\.0\.5:2375 has no TLS: the agent's secret crosses it in clear/,
  );
});

test('DOCKER_HOST with DOCKER_TLS_VERIFY uses https and the certificates in DOCKER_CERT_PATH', () => {
  const h = home();
  const certs = join(h, 'certs');
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) put(join(certs, f), f);
  const e = resolveDockerEndpoint(
    undefined,
    env(h, { DOCKER_HOST: 'tcp://[fd00::5]', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs }),
  );
  assert.ok('protocol' in e.options);
  assert.equal(e.options.protocol, 'https');
  assert.equal(e.options.host, 'fd00::5');
  assert.equal(e.options.port, 2376);
  assert.equal(e.options.ca?.toString(), 'ca.pem');
  assert.equal(e.options.key?.toString(), 'key.pem');
  assert.equal(cleartextWarning(e), undefined);
  assert.equal(cleartextWarning(resolveDockerEndpoint('unix:///opt/d.sock', env(h))), undefined);
});

test("the current context from ~/.docker/config.json, found under sha256 of the context's name", () => {
  const h = home();
  put(join(h, '.docker', 'config.json'), JSON.stringify({ auths: {}, currentContext: 'my "odd" ctx/1' }));
  addContext(h, 'my "odd" ctx/1', 'unix:///Users/me/.colima/default/docker.sock');
  const e = resolveDockerEndpoint(undefined, env(h));
  assert.equal(e.source, 'context');
  assert.equal(e.context, 'my "odd" ctx/1');
  assert.deepEqual(e.options, { socketPath: '/Users/me/.colima/default/docker.sock' });
  assert.deepEqual(e.warnings, []);
});

test('DOCKER_CONTEXT overrides currentContext; a tcp context with TLS files uses them', () => {
  const h = home();
  put(join(h, '.docker', 'config.json'), JSON.stringify({ currentContext: 'colima' }));
  addContext(h, 'colima', 'unix:///ctx.sock');
  addContext(h, 'remote', 'tcp://docker.example:2376', true);
  const e = resolveDockerEndpoint(undefined, env(h, { DOCKER_CONTEXT: 'remote' }));
  assert.equal(e.context, 'remote');
  assert.ok('protocol' in e.options);
  assert.equal(e.options.protocol, 'https');
  assert.equal(e.options.port, 2376);
  assert.equal(e.options.cert?.toString(), 'cert.pem of remote');
});

test('DOCKER_CONFIG moves the config directory', () => {
  const h = home();
  const cfg = join(h, 'elsewhere');
  put(join(cfg, 'config.json'), JSON.stringify({ currentContext: 'x' }));
  const id = createHash('sha256').update('x').digest('hex');
  put(
    join(cfg, 'contexts', 'meta', id, 'meta.json'),
    JSON.stringify({ Endpoints: { docker: { Host: 'unix:///x.sock' } } }),
  );
  const e = resolveDockerEndpoint(undefined, env(h, { DOCKER_CONFIG: cfg }));
  assert.deepEqual(e.options, { socketPath: '/x.sock' });
});

test('under sudo, the invoking user’s ~/.docker is read, not root’s', () => {
  const userHome = home();
  const rootHome = home();
  put(join(root, 'passwd'), `root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:${userHome}:/bin/bash\n`);
  put(join(userHome, '.docker', 'config.json'), JSON.stringify({ currentContext: 'orbstack' }));
  addContext(userHome, 'orbstack', `unix://${userHome}/.orbstack/run/docker.sock`);
  const e = resolveDockerEndpoint(
    undefined,
    env(rootHome, { SUDO_USER: 'alice' }, { passwdFile: join(root, 'passwd') }),
  );
  assert.equal(e.source, 'context');
  assert.deepEqual(e.options, { socketPath: `${userHome}/.orbstack/run/docker.sock` });
});

test('invokingUserHome: passwd, then /Users/<name> on macOS, then $HOME; odd SUDO_USER values ignored', () => {
  const read = (t: string) => () => Buffer.from(t);
  const base = { passwdFile: '/x', readFile: read('bob:x:1:1::/home/bob:/bin/sh\n') };
  assert.equal(
    invokingUserHome({ ...base, env: { SUDO_USER: 'bob', HOME: '/root' }, platform: 'linux' }),
    '/home/bob',
  );
  const none = { passwdFile: '/x', readFile: read('') };
  assert.equal(
    invokingUserHome({ ...none, env: { SUDO_USER: 'carol', HOME: '/var/root' }, platform: 'darwin' }),
    '/Users/carol',
  );
  assert.equal(
    invokingUserHome({ ...none, env: { SUDO_USER: 'carol', HOME: '/root' }, platform: 'linux' }),
    '/root',
  );
  assert.equal(
    invokingUserHome({ ...none, env: { SUDO_USER: '../etc', HOME: '/h' }, platform: 'darwin' }),
    '/h',
  );
  assert.equal(
    invokingUserHome({ ...none, env: { SUDO_USER: 'root', HOME: '/h' }, platform: 'darwin' }),
    '/h',
  );
});

test('the "default" context, no config, or an unreadable context fall back to the platform socket', () => {
  const h = home();
  put(join(h, '.docker', 'config.json'), JSON.stringify({ currentContext: 'default' }));
  const e = resolveDockerEndpoint(undefined, env(h));
  assert.equal(e.source, 'default');
  assert.deepEqual(e.options, { socketPath: '/var/run/docker.sock' });
  assert.match(e.warnings.join(), /no Docker socket found/);

  assert.equal(resolveDockerEndpoint(undefined, env(home())).source, 'default');

  const broken = home();
  put(join(broken, '.docker', 'config.json'), JSON.stringify({ currentContext: 'gone' }));
  const g = resolveDockerEndpoint(undefined, env(broken));
  assert.equal(g.source, 'default');
  assert.match(g.warnings.join(), /docker context "gone" is unreadable/);

  const garbled = home();
  put(join(garbled, '.docker', 'config.json'), '{"currentContext": ');
  assert.match(resolveDockerEndpoint(undefined, env(garbled)).warnings.join(), /ignored .*config\.json/);
});

test('Linux default is /var/run/docker.sock when it exists', () => {
  const e = resolveDockerEndpoint(
    undefined,
    env(home(), {}, { exists: (p) => p === '/var/run/docker.sock' }),
  );
  assert.deepEqual(e.options, { socketPath: '/var/run/docker.sock' });
  assert.deepEqual(e.warnings, []);
});

test('macOS: the first existing of Docker Desktop, Colima, OrbStack sockets', () => {
  const h = home();
  put(join(h, '.colima', 'default', 'docker.sock'), '');
  put(join(h, '.orbstack', 'run', 'docker.sock'), '');
  const e = resolveDockerEndpoint(undefined, env(h, {}, { platform: 'darwin' }));
  assert.deepEqual(e.options, { socketPath: join(h, '.colima', 'default', 'docker.sock') });
  put(join(h, '.docker', 'run', 'docker.sock'), '');
  const d = resolveDockerEndpoint(undefined, env(h, {}, { platform: 'darwin' }));
  assert.deepEqual(d.options, { socketPath: join(h, '.docker', 'run', 'docker.sock') });
  // On Linux these per-user sockets are not where Docker lives.
  assert.deepEqual(resolveDockerEndpoint(undefined, env(h)).options, { socketPath: '/var/run/docker.sock' });
});

test('bad URLs are errors that say what is wrong', () => {
  const bad: [string, RegExp][] = [
    ['unix://relative.sock', /absolute path/],
    ['ssh://me@vm', /cannot reach Docker over ssh/],
    ['npipe:////./pipe/docker_engine', /over npipe/],
    ['/var/run/docker.sock', /not a Docker host URL/],
    ['tcp://host:2375/path', /nothing else/],
    ['tcp://host:99999', /not a valid/],
  ];
  for (const [url, re] of bad)
    assert.throws(
      () => parseDockerHost(url),
      (e: Error) => e instanceof DockerEndpointError && re.test(e.message),
      url,
    );
  assert.throws(
    () => resolveDockerEndpoint(undefined, env(home(), { DOCKER_HOST: 'ssh://x' })),
    DockerEndpointError,
  );
});

test('a root service on macOS follows the console user: their context, else their Docker Desktop socket', () => {
  const users = join(root, `Users${n++}`);
  const ana = join(users, 'ana');
  mkdirSync(join(users, 'Shared'), { recursive: true });
  mkdirSync(ana, { recursive: true });
  chownSync(ana, 501, 20);
  const consoleFile = join(root, `console${n++}`);
  put(consoleFile, '');
  chownSync(consoleFile, 501, 0);
  const mac = { platform: 'darwin' as const, uid: 0, consoleFile, usersDir: users, ownerOf, listDir };
  // Docker Desktop 4.37.2 made no /var/run/docker.sock: her ~/.docker/run/docker.sock is the way in.
  put(join(ana, '.docker', 'run', 'docker.sock'), '');
  const d = resolveDockerEndpoint(undefined, env('/var/root', {}, mac));
  assert.deepEqual(d.options, { socketPath: join(ana, '.docker', 'run', 'docker.sock') });
  // Her current context wins over the sockets.
  put(join(ana, '.docker', 'config.json'), JSON.stringify({ currentContext: 'colima' }));
  addContext(ana, 'colima', `unix://${ana}/.colima/default/docker.sock`);
  const c = resolveDockerEndpoint(undefined, env('/var/root', {}, mac));
  assert.equal(c.source, 'context');
  assert.equal(c.context, 'colima');
  // At the login window root owns the console: nobody to follow, root's own home is used ...
  chownSync(consoleFile, 0, 0);
  assert.equal(
    invokingUserHome({ ...env('/var/root', {}, mac), env: { HOME: '/var/root' } } as EndpointEnv),
    '/var/root',
  );
  // ... unless the service was installed for someone (launchd starts it at boot, before anyone logs in):
  // then it is their Docker that will start after login.
  const boot = resolveDockerEndpoint(undefined, env('/var/root', {}, { ...mac, serviceUid: 501 }));
  assert.equal(boot.context, 'colima');
  // A process that is not root never looks at the console.
  chownSync(consoleFile, 501, 0);
  assert.equal(
    invokingUserHome({ ...env('/h', {}, { ...mac, uid: 501 }), env: { HOME: '/h' } } as EndpointEnv),
    '/h',
  );
  assert.equal(
    invokingUserHome({ ...env('/var/root', {}, mac), env: { HOME: '/var/root' } } as EndpointEnv),
    ana,
  );
});

test('a root service on Linux follows the user it was installed for (passwd), e.g. Docker Desktop for Linux', () => {
  const bob = home();
  put(join(root, 'passwd-svc'), `root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::${bob}:/bin/bash\n`);
  put(join(bob, '.docker', 'desktop', 'docker.sock'), '');
  const linux = { uid: 0, serviceUid: 1000, passwdFile: join(root, 'passwd-svc'), ownerOf, listDir };
  const e = resolveDockerEndpoint(undefined, env('/root', {}, linux));
  assert.deepEqual(e.options, { socketPath: join(bob, '.docker', 'desktop', 'docker.sock') });
  // Without an installing user (or one not in passwd), root's own home.
  assert.equal(
    invokingUserHome({
      ...env('/root', {}, { ...linux, serviceUid: 4242 }),
      env: { HOME: '/root' },
    } as EndpointEnv),
    '/root',
  );
  assert.equal(
    invokingUserHome({
      ...env('/root', {}, { ...linux, serviceUid: undefined }),
      env: { HOME: '/root' },
    } as EndpointEnv),
    '/root',
  );
});

test('a Podman machine on macOS: its Docker-compatible socket in the machine folder, and a hint when none', () => {
  const h = home();
  const mac = { platform: 'darwin' as const };
  const none = resolveDockerEndpoint(undefined, env(h, {}, mac));
  assert.match(none.warnings.join('\n'), /podman-mac-helper install.*--docker-host/);
  const sock = join(
    h,
    '.local',
    'share',
    'containers',
    'podman',
    'machine',
    'podman-machine-default',
    'podman.sock',
  );
  put(sock, '');
  assert.deepEqual(resolveDockerEndpoint(undefined, env(h, {}, mac)).options, { socketPath: sock });
  // The default machine's own socket, where recent versions put it, comes first.
  const current = join(h, '.local', 'share', 'containers', 'podman', 'machine', 'podman.sock');
  put(current, '');
  assert.deepEqual(resolveDockerEndpoint(undefined, env(h, {}, mac)).options, { socketPath: current });
  // Linux has no Podman machine: the hint is not given there.
  assert.doesNotMatch(resolveDockerEndpoint(undefined, env(home())).warnings.join('\n'), /podman/);
});
