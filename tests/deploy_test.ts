/**
 * Validates the deployment files in `deploy/` with their real tools where
 * they run on this machine: `nginx -t` and a live nginx in front of a real
 * Parley, `systemd-analyze verify` and `security`, a YAML parse of the
 * compose file, and the Dockerfile's shape. A missing tool skips its test,
 * unless `CI=true`, where it fails: CI installs nginx, systemd and openssl.
 *
 * @module
 */
import { runCommand } from "./support/command.ts";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
// A full specifier, so deno.json gains no import for one test; move it to
// deno.json "imports" if a second file needs YAML.
// deno-lint-ignore no-import-prefix
import { parse as parseYaml } from "npm:yaml@2.9.1";
import { OPTIONS, parseConfig, parseDuration } from "../signaling/config.ts";
import { startTestServer, tempDir } from "./support/server.ts";
import { deadline, eventually } from "./support/wait.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const DEPLOY = `${ROOT}deploy/`;
const IN_CI = Deno.env.get("CI") === "true";
const PROBES: Record<string, string[]> = {
  nginx: ["-v"],
  "systemd-analyze": ["--version"],
  openssl: ["version"],
};

function installed(tool: string): boolean {
  try {
    return new Deno.Command(tool, {
      args: PROBES[tool] ?? ["--version"],
      stdout: "null",
      stderr: "null",
    }).outputSync().success;
  } catch {
    return false;
  }
}

/**
 * A test that needs `tools`: ignored when one is missing, except on CI, where
 * a missing tool is a failure (the gate must not pass by skipping).
 */
function toolTest(
  name: string,
  tools: string[],
  fn: (t: Deno.TestContext) => Promise<void>,
): void {
  const missing = tools.filter((tool) => !installed(tool));
  Deno.test({
    name,
    ignore: missing.length > 0 && !IN_CI,
    fn: missing.length === 0 ? fn : () => {
      throw new Error(`${missing.join(", ")} not installed (CI=true)`);
    },
  });
}

/**
 * A throwaway CA and a localhost certificate it signs, as nginx wants them
 * (`fullchain.pem`, `privkey.pem`); `ca.pem` is what clients trust. A
 * self-signed leaf would do for nginx, but rustls refuses a CA certificate
 * as the server's own.
 */
async function testCertificates(dir: string): Promise<void> {
  const openssl = async (args: string[]) => {
    const { code, stderr } = await runCommand("openssl", args, { cwd: dir });
    assert.equal(code, 0, `openssl ${args[0]} failed:\n${stderr}`);
  };
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=Parley test CA",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
  ]);
  await openssl([
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=localhost",
    "-keyout",
    "privkey.pem",
    "-out",
    "leaf.csr",
  ]);
  await Deno.writeTextFile(
    `${dir}/leaf.ext`,
    "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    "leaf.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    "leaf.ext",
    "-out",
    "fullchain.pem",
  ]);
}

const SITE = await Deno.readTextFile(`${DEPLOY}nginx/parley.conf`);
/** The site without comments, so a comment never satisfies a check. */
const SITE_CODE = SITE.replace(/#.*$/gm, "");
const UPSTREAM_SERVER = /^(\s*server\s+)(\S+)(.*;)/gm;

/** The `server` lines of the `upstream parley` block. */
function upstreamServers(site: string): string[] {
  const block = /upstream parley \{([^}]*)\}/.exec(site);
  assert.ok(block, "parley.conf has an upstream parley block");
  return [...block[1].matchAll(UPSTREAM_SERVER)].map((m) => m[2]);
}

/** The body of `location <match> { ... }` (no nested blocks in ours). */
function locationBlock(site: string, match: string): string {
  const start = site.indexOf(`location ${match} {`);
  assert.notEqual(start, -1, `parley.conf has location ${match}`);
  return site.slice(start, site.indexOf("}", start));
}

interface SiteRewrite {
  dir: string;
  upstreams: string[];
  httpPort?: number;
  httpsPort?: number;
}

/**
 * The site with upstreams, certificate paths and (optionally) ports
 * rewritten, inside a minimal nginx.conf whose every path is in `dir`, so
 * nginx needs no system directory. Returns the nginx.conf path.
 */
async function writeNginxConf(options: SiteRewrite): Promise<string> {
  const { dir } = options;
  let i = 0;
  let site = SITE.replace(
    /upstream parley \{[^}]*\}/,
    (block) =>
      block.replace(
        UPSTREAM_SERVER,
        (_, head, _addr, tail) => `${head}${options.upstreams[i++]}${tail}`,
      ),
  ).replaceAll("/etc/nginx/tls/", `${dir}/`);
  if (options.httpPort) {
    site = site.replace(/listen 80;/, `listen 127.0.0.1:${options.httpPort};`)
      .replace(/\s*listen \[::\]:80;/, "");
  }
  if (options.httpsPort) {
    site = site.replace(
      /listen 443 /,
      `listen 127.0.0.1:${options.httpsPort} `,
    ).replace(/\s*listen \[::\]:443 [^;]*;/, "");
  }
  await Deno.writeTextFile(`${dir}/site.conf`, site);
  const conf = `${dir}/nginx.conf`;
  await Deno.writeTextFile(
    conf,
    `pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events {}
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/site.conf;
}
`,
  );
  return conf;
}

/** `[warn]`/`[emerg]` lines of nginx, minus the "listen ... http2" notice. */
function nginxComplaints(stderr: string): string[] {
  return stderr.split("\n").filter((line) =>
    /\[(warn|error|emerg|crit|alert)\]/.test(line) && !/http2/.test(line)
  );
}

Deno.test("nginx/parley.conf proxies /ws as a WebSocket with long timeouts", () => {
  const ws = locationBlock(SITE_CODE, "= /ws");
  assert.match(SITE_CODE, /map \$http_upgrade \$connection_upgrade \{/);
  assert.match(ws, /proxy_http_version 1\.1;/);
  assert.match(ws, /proxy_set_header Upgrade \$http_upgrade;/);
  assert.match(ws, /proxy_set_header Connection \$connection_upgrade;/);
  assert.match(ws, /proxy_set_header X-Forwarded-For /);
  assert.match(ws, /proxy_set_header Host \$host;/);
  assert.match(ws, /proxy_buffering off;/);
  // nginx must never be the one to cut a quiet socket: its timeouts stay
  // above Parley's own ping interval (IDLE_TIMEOUT's default).
  const idle = OPTIONS.find((o) => o.env === "IDLE_TIMEOUT");
  const idleMs = parseDuration(idle?.default ?? "");
  assert.ok(idleMs, "IDLE_TIMEOUT has a default");
  for (const directive of ["proxy_read_timeout", "proxy_send_timeout"]) {
    const m = new RegExp(`${directive} (\\d+s);`).exec(ws);
    assert.ok(m, `/ws sets ${directive}`);
    assert.ok(
      (parseDuration(m[1]) ?? 0) >= 2 * idleMs,
      `${directive} ${m[1]} is at least twice IDLE_TIMEOUT (${idle?.default})`,
    );
  }
  assert.match(SITE_CODE, /listen 443 ssl http2;/);
  assert.match(SITE_CODE, /return 301 https:\/\/\$host\$request_uri;/);
  assert.match(SITE_CODE, /client_max_body_size \d+k;/);
  assert.doesNotMatch(SITE_CODE, /ip_hash|sticky|hash \$/);
});

toolTest(
  "nginx -t accepts nginx/parley.conf with a throwaway certificate",
  ["nginx", "openssl"],
  async () => {
    await using dir = await tempDir();
    await testCertificates(dir.path);
    const servers = upstreamServers(SITE);
    assert.ok(servers.length >= 2, "at least two upstream servers");
    const conf = await writeNginxConf({
      dir: dir.path,
      // Compose service names do not resolve here, and nginx -t resolves.
      upstreams: servers.map((_, i) => `127.0.0.1:${18081 + i}`),
    });
    const { code, stderr } = await runCommand("nginx", [
      "-t",
      "-p",
      dir.path,
      "-c",
      conf,
      "-e",
      `${dir.path}/error.log`,
    ]);
    assert.equal(code, 0, `nginx -t failed:\n${stderr}`);
    assert.match(stderr, /test is successful/);
    assert.deepEqual(nginxComplaints(stderr), []);
  },
);

/** A TCP port free right now (nginx needs fixed ports in its config). */
function freePort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return listener.addr.port;
}

/**
 * Sends a WebSocket handshake over `conn` and returns the response head
 * (Deno's WebSocket cannot trust a self-signed certificate per socket).
 */
async function handshake(conn: Deno.Conn, host: string): Promise<string> {
  const request = [
    "GET /ws HTTP/1.1",
    `Host: ${host}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
    "",
    "",
  ].join("\r\n");
  await conn.write(new TextEncoder().encode(request));
  const buf = new Uint8Array(4096);
  let head = "";
  while (!head.includes("\r\n\r\n")) {
    const n = await conn.read(buf);
    if (n === null) break;
    head += new TextDecoder().decode(buf.subarray(0, n));
  }
  return head;
}

toolTest(
  "nginx with parley.conf serves Parley over TLS and upgrades /ws",
  ["nginx", "openssl"],
  async (t) => {
    await using dir = await tempDir();
    await testCertificates(dir.path);
    await using parley = await startTestServer({
      env: { TRUSTED_PROXIES: "127.0.0.1" },
    });
    const httpPort = freePort();
    const httpsPort = freePort();
    const conf = await writeNginxConf({
      dir: dir.path,
      upstreams: upstreamServers(SITE).map(() => `127.0.0.1:${parley.port}`),
      httpPort,
      httpsPort,
    });
    const nginx = new Deno.Command("nginx", {
      args: [
        "-p",
        dir.path,
        "-c",
        conf,
        "-e",
        `${dir.path}/error.log`,
        "-g",
        "daemon off;",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const ca = await Deno.readTextFile(`${dir.path}/ca.pem`);
    using client = Deno.createHttpClient({ caCerts: [ca] });
    // Deno's fetch takes `client`; the DOM RequestInit type does not know it.
    const tls = { client } as unknown as RequestInit;
    try {
      await eventually(async () => {
        try {
          const conn = await Deno.connect({ port: httpsPort });
          conn.close();
          return true;
        } catch {
          return false;
        }
      }, "nginx to listen");

      await t.step("port 80 redirects to HTTPS", async () => {
        const res = await fetch(`http://127.0.0.1:${httpPort}/r/abc`, {
          redirect: "manual",
        });
        await res.body?.cancel();
        assert.equal(res.status, 301);
        assert.equal(
          res.headers.get("location"),
          "https://127.0.0.1/r/abc",
        );
        const health = await fetch(
          `http://127.0.0.1:${httpPort}/nginx-health`,
        );
        assert.equal(health.status, 200);
        assert.equal(await health.text(), "ok\n");
      });

      await t.step("/health and the page come from Parley", async () => {
        const res = await fetch(`https://localhost:${httpsPort}/health`, tls);
        assert.equal(res.status, 200);
        const body = await res.json();
        assert.equal(body.status, "ok");
        assert.equal(
          res.headers.get("strict-transport-security") !== null,
          true,
        );
        const page = await fetch(`https://localhost:${httpsPort}/`, tls);
        assert.equal(page.status, 200);
        assert.match(await page.text(), /<html/i);
      });

      await t.step("/ws answers 101 Switching Protocols", async () => {
        const conn = await Deno.connectTls({
          hostname: "localhost",
          port: httpsPort,
          caCerts: [ca],
          alpnProtocols: ["http/1.1"],
        });
        try {
          const head = await deadline(
            handshake(conn, `localhost:${httpsPort}`),
            "the handshake through nginx",
          );
          assert.match(head, /^HTTP\/1\.1 101 /, head);
          assert.match(head, /\r\nupgrade: websocket\r\n/i);
          assert.match(
            head,
            /\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/i,
          );
        } finally {
          conn.close();
        }
      });
    } finally {
      try {
        nginx.kill("SIGQUIT");
      } catch {
        // Already gone.
      }
      const status = await deadline(nginx.status, "nginx to exit");
      const stderr = await new Response(nginx.stderr).text();
      assert.ok(status.signal === null || status.success, stderr);
    }
  },
);

const UNIT = await Deno.readTextFile(`${DEPLOY}parley.service`);

/** Every `Key=value` of the unit, in order (keys may repeat). */
function unitEntries(unit: string): [string, string][] {
  return unit.split("\n")
    .filter((line) => /^[A-Za-z]+=/.test(line))
    .map((line) => {
      const eq = line.indexOf("=");
      return [line.slice(0, eq), line.slice(eq + 1)];
    });
}

Deno.test("parley.service is hardened and stops after Parley's graceful shutdown", () => {
  const entries = unitEntries(UNIT);
  const value = (key: string) => entries.find(([k]) => k === key)?.[1];
  const expected: Record<string, string> = {
    ExecStart: "/usr/local/bin/parley",
    DynamicUser: "yes",
    StateDirectory: "parley",
    NoNewPrivileges: "yes",
    ProtectSystem: "strict",
    ProtectHome: "yes",
    PrivateTmp: "yes",
    PrivateDevices: "yes",
    RestrictAddressFamilies: "AF_INET AF_INET6 AF_UNIX",
    SystemCallFilter: "@system-service",
    Restart: "on-failure",
    KillSignal: "SIGTERM",
  };
  for (const [key, want] of Object.entries(expected)) {
    assert.equal(value(key), want, key);
  }
  assert.ok(value("RestartSec"), "RestartSec is set");
  assert.ok(
    entries.some(([k, v]) =>
      k === "Environment" &&
      v === "DATABASE_URL=file:/var/lib/parley/parley.db"
    ),
    "Environment DATABASE_URL=file:/var/lib/parley/parley.db",
  );
  // V8's JIT needs writable+executable pages.
  assert.equal(value("MemoryDenyWriteExecute"), undefined);
  const stopMs = parseDuration(value("TimeoutStopSec") ?? "");
  assert.ok(stopMs && stopMs > 5000 && stopMs <= 30_000, "TimeoutStopSec");
});

toolTest(
  "systemd-analyze verify and security accept parley.service",
  ["systemd-analyze"],
  async () => {
    // verify checks that ExecStart is executable; /usr/local/bin/parley is
    // not installed here, so a copy of the unit points at a stand-in script.
    await using dir = await tempDir();
    const standIn = `${dir.path}/parley`;
    await Deno.writeTextFile(standIn, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const unit = `${dir.path}/parley.service`;
    assert.match(UNIT, /^ExecStart=\/usr\/local\/bin\/parley$/m);
    await Deno.writeTextFile(
      unit,
      UNIT.replace(/^ExecStart=.*$/m, `ExecStart=${standIn}`),
    );
    const verify = await runCommand("systemd-analyze", ["verify", unit], {
      cwd: dir.path,
    });
    assert.equal(verify.code, 0, verify.stderr);
    // Unknown keys and bad values are only warnings, with status 0.
    assert.equal(verify.stderr.trim(), "", "systemd-analyze verify warnings");
    // The exposure score (0-100, shown as 0.0-10.0): "OK" is below 2.0.
    const security = await runCommand("systemd-analyze", [
      "security",
      "--offline=yes",
      "--threshold=20",
      unit,
    ], { cwd: dir.path });
    assert.equal(security.code, 0, security.stdout + security.stderr);
  },
);

interface ComposeService {
  build?: { context?: string; dockerfile?: string };
  image?: string;
  environment?: Record<string, string>;
  healthcheck?: { test?: string[] };
  depends_on?: Record<string, { condition?: string }>;
  volumes?: string[];
  configs?: { source: string; target: string }[];
  networks?: Record<string, { ipv4_address?: string }> | string[];
  network_mode?: string;
  ports?: string[];
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  configs?: Record<string, { content?: string }>;
}

Deno.test("compose.yaml runs two Parleys behind nginx with Redis and coturn", async () => {
  const text = await Deno.readTextFile(`${DEPLOY}compose.yaml`);
  // merge: the Parley services share one definition through "<<: *parley".
  const compose = parseYaml(text, { merge: true }) as ComposeFile;
  const services = compose.services;
  const parleys = Object.entries(services).filter(([, s]) =>
    s.build?.dockerfile === "deploy/Dockerfile"
  );
  assert.equal(parleys.length, 2, "two Parley services");
  assert.ok(services.redis, "redis");
  assert.ok(services.coturn, "coturn");
  assert.ok(services.nginx, "nginx");

  const nginxNet = services.nginx.networks as Record<
    string,
    { ipv4_address?: string }
  >;
  const nginxIp = Object.values(nginxNet)[0]?.ipv4_address;
  assert.ok(nginxIp, "nginx has a fixed address for TRUSTED_PROXIES");

  const dockerfile = await Deno.readTextFile(`${DEPLOY}Dockerfile`);
  for (const [name, parley] of parleys) {
    const env = parley.environment ?? {};
    assert.equal(parley.build?.context, "..", name);
    assert.equal(env.REDIS_URL, "redis://redis:6379", `${name} REDIS_URL`);
    assert.match(env.TURN_SECRET, /^\$\{TURN_SECRET\b/, `${name} TURN_SECRET`);
    assert.match(env.TURN_URLS, /^turn:/, `${name} TURN_URLS`);
    assert.equal(env.TRUSTED_PROXIES, nginxIp, `${name} TRUSTED_PROXIES`);
    assert.equal(env.DATABASE_URL, "file:/var/lib/parley/parley.db");
    assert.ok(
      parley.volumes?.some((v) => v.endsWith(":/var/lib/parley")),
      `${name} keeps /var/lib/parley in a volume`,
    );
    assert.equal(parley.depends_on?.redis?.condition, "service_healthy");
    // Parley variables must be ones Parley knows (REDIS_URL comes with the
    // Redis scale-out).
    for (const key of Object.keys(env)) {
      assert.ok(
        key === "REDIS_URL" || OPTIONS.some((o) => o.env === key),
        `${name}: ${key} is a Parley option`,
      );
    }
    // The health check runs the wget the Dockerfile installs.
    const probe = parley.healthcheck?.test?.[1] ?? "";
    assert.ok(dockerfile.includes(` ${probe}\n`), `${name} probe ${probe}`);
    assert.match(parley.healthcheck?.test?.join(" ") ?? "", /\/health$/);
  }

  for (const [name, service] of Object.entries(services)) {
    assert.ok(service.healthcheck?.test?.length, `${name} has a healthcheck`);
  }

  // nginx balances over exactly the two Parley services, healthy first.
  assert.deepEqual(
    upstreamServers(SITE).sort(),
    parleys.map(([name]) => `${name}:8080`).sort(),
  );
  for (const [name] of parleys) {
    assert.equal(
      services.nginx.depends_on?.[name]?.condition,
      "service_healthy",
    );
  }
  assert.ok(
    services.nginx.volumes?.includes(
      "./nginx/parley.conf:/etc/nginx/conf.d/default.conf:ro",
    ),
  );
  assert.deepEqual(services.nginx.ports?.sort(), ["443:443", "80:80"]);

  const turn = services.coturn.configs?.[0];
  assert.ok(turn, "coturn gets its config file");
  const turnConf = compose.configs?.[turn.source]?.content ?? "";
  assert.match(turnConf, /^use-auth-secret$/m);
  assert.match(turnConf, /^static-auth-secret=\$\{TURN_SECRET\}$/m);
  assert.equal(services.coturn.network_mode, "host");
  assert.equal(services.redis.ports, undefined, "Redis is not published");
});

/** The Dockerfile's instructions, with continuation lines joined. */
function dockerInstructions(text: string): { op: string; args: string }[] {
  return text.replace(/\\\n/g, " ").split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const [op, ...rest] = line.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(" ") };
    });
}

Deno.test("Dockerfile compiles in a Deno stage and runs the binary as non-root", async () => {
  const text = await Deno.readTextFile(`${DEPLOY}Dockerfile`);
  const steps = dockerInstructions(text);
  const froms = steps.filter((s) => s.op === "FROM").map((s) => s.args);
  assert.ok(froms.length >= 2, "multi-stage");
  // The build image is the Deno version CI installs.
  const ci = await Deno.readTextFile(`${ROOT}.ci/run`);
  const denoVersion = /^DENO_VERSION=(\S+)$/m.exec(ci)?.[1];
  assert.equal(froms[0], `denoland/deno:${denoVersion} AS build`);
  assert.doesNotMatch(froms.at(-1) ?? "", /deno/, "runtime has no Deno");

  const final = steps.slice(steps.findLastIndex((s) => s.op === "FROM"));
  const build = steps.slice(0, steps.length - final.length);
  assert.ok(
    build.some((s) => s.op === "RUN" && /\bdeno task compile\b/.test(s.args)),
    "the build stage runs deno task compile",
  );
  const get = (op: string) => final.filter((s) => s.op === op);
  assert.ok(
    get("COPY").some((s) =>
      s.args === "--from=build /src/parley /usr/local/bin/parley"
    ),
    "only the binary comes from the build stage",
  );
  const user = get("USER").at(-1)?.args ?? "";
  assert.ok(user !== "" && !/^(root|0)(:|$)/.test(user), `USER ${user}`);
  assert.match(
    get("ENV").map((s) => s.args).join(" "),
    /DATABASE_URL=file:\/var\/lib\/parley\/parley\.db/,
  );
  assert.match(get("ENV").map((s) => s.args).join(" "), /PORT=8080/);
  assert.deepEqual(get("EXPOSE").map((s) => s.args), ["8080"]);
  assert.match(get("VOLUME")[0]?.args ?? "", /\/var\/lib\/parley/);
  assert.match(
    get("HEALTHCHECK")[0]?.args ?? "",
    /http:\/\/127\.0\.0\.1:8080\/health/,
  );
  assert.match(get("ENTRYPOINT")[0]?.args ?? "", /\/usr\/local\/bin\/parley/);

  // Everything the compile needs is in the build context, not ignored.
  const ignore = (await Deno.readTextFile(`${DEPLOY}Dockerfile.dockerignore`))
    .split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  for (
    const path of [
      "deno.json",
      "deno.lock",
      "main.ts",
      "signaling",
      "storage",
      "public",
    ]
  ) {
    await Deno.stat(`${ROOT}${path}`);
    assert.ok(!ignore.includes(path), `${path} is not in the dockerignore`);
  }
});

Deno.test("compose.sentinel.yaml adds a replica and three sentinels that Parley follows", async () => {
  const base = parseYaml(
    await Deno.readTextFile(`${DEPLOY}compose.yaml`),
    { merge: true },
  ) as ComposeFile;
  const text = await Deno.readTextFile(`${DEPLOY}compose.sentinel.yaml`);
  const overlay = parseYaml(text, { merge: true }) as ComposeFile;
  const services = overlay.services;
  const sentinels = Object.keys(services).filter((n) =>
    n.startsWith("sentinel-")
  );
  assert.equal(sentinels.length, 3, "three sentinels");
  const replica = services["redis-replica"];
  assert.ok(replica, "a replica");
  const command = (replica as { command?: string[] }).command ?? [];
  assert.deepEqual(
    command.slice(
      command.indexOf("--replicaof"),
      command.indexOf("--replicaof") + 3,
    ),
    ["--replicaof", "redis", "6379"],
    "the replica follows the primary service",
  );
  assert.ok(command.includes("--appendonly"), "the replica keeps an AOF");

  // The sentinels monitor the base file's redis service, quorum 2 of 3.
  assert.ok(base.services.redis, "the primary is compose.yaml's redis");
  const conf = overlay.configs?.sentinel?.content ?? "";
  const monitor = /^sentinel monitor (\S+) (\S+) (\d+) (\d+)$/m.exec(conf);
  assert.ok(monitor, "a sentinel monitor line");
  const [, name, host, port, quorum] = monitor;
  assert.deepEqual([host, port, quorum], ["redis", "6379", "2"]);
  assert.match(conf, /^sentinel resolve-hostnames yes$/m);

  // Both Parley services of the base file are overridden, and the result
  // is a configuration Parley accepts.
  const parleys = Object.entries(base.services).filter(([, s]) =>
    s.build?.dockerfile === "deploy/Dockerfile"
  );
  for (const [serviceName, parley] of parleys) {
    const override = services[serviceName];
    assert.ok(override, `${serviceName} is overridden`);
    const env = { ...parley.environment, ...override.environment };
    assert.equal(env.REDIS_URL, "");
    assert.equal(env.REDIS_MASTER_NAME, name);
    assert.deepEqual(
      env.REDIS_SENTINELS.split(",").map((s) => s.split(":")[0]).sort(),
      sentinels.sort(),
    );
    for (const sentinel of sentinels) {
      assert.equal(
        override.depends_on?.[sentinel]?.condition,
        "service_healthy",
      );
    }
    const config = parseConfig({
      ...env,
      ALLOWED_ORIGINS: "https://parley.example.com",
      TURN_URLS: "turn:turn.example.com:3478",
      TURN_SECRET: "x".repeat(32),
    });
    assert.equal(config.redisSentinels.length, 3);
  }
});
