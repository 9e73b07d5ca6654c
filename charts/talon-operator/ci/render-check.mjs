#!/usr/bin/env node
/**
 * Checks of the Helm chart, runnable without helm (from any directory; needs the repository's
 * node_modules for `yaml`):
 *
 *   template syntax   every `{{` has its `}}`, comments are closed, if/range/with/define/block
 *                     each have their `end`, else only where it may stand, every include'd or
 *                     template'd name is defined, no stray `}}` in text;
 *   crds              charts/talon-operator/crds/ is a byte-identical copy of the generated crds/;
 *   rbac              the ClusterRole template with every switch on grants exactly
 *                     config/rbac/role.yaml; when dist/ is built, each switch's block grants exactly
 *                     what its actionners declare (info.rbac) and every actionner has a switch;
 *                     the aggregated ClusterRoles (template and config/rbac/aggregate-*.yaml) grant
 *                     the same, and only the namespaced kinds (never ClusterTalonRule/Action);
 *                     the approver ClusterRole template grants what config/rbac/approver.yaml does;
 *   config            config/manager/talon.yaml and the chart's default config pass the
 *                     operator's own config loader (when dist/ is built);
 *   helm              when a `helm` binary is found ($HELM or PATH): helm lint, and helm template
 *                     with the default values and each ci/*-values.yaml; every rendered document
 *                     parses, rendered ClusterRoles match the switches, rendered configs load.
 *
 *   node charts/talon-operator/ci/render-check.mjs        exit 1 when a check fails
 *   HELM=… node charts/talon-operator/ci/render-check.mjs --require-helm
 *                                                         (make check-chart) a missing helm fails
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';

const chartDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repoDir = resolve(chartDir, '../..');
const rel = (p) => relative(repoDir, p);

let passed = 0;
let failed = 0;
function check(name, problems) {
  if (problems.length === 0) {
    passed++;
    console.log(`ok    ${name}`);
  } else {
    failed++;
    console.log(`FAIL  ${name}`);
    for (const p of problems) console.log(`        ${p}`);
  }
}
function skip(name, why) {
  console.log(`skip  ${name}: ${why}`);
}

// ---------------------------------------------------------------- template syntax

const OPENERS = new Set(['if', 'range', 'with', 'define', 'block']);

/** Index just past the `}}` closing the action whose body starts at `i`, skipping string literals; -1 if none. */
function actionEnd(text, i) {
  while (i < text.length) {
    const c = text[i];
    if (c === '"' || c === "'") {
      i++;
      while (i < text.length && text[i] !== c) i += text[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '`') {
      const close = text.indexOf('`', i + 1);
      if (close === -1) return -1;
      i = close + 1;
    } else if (c === '}' && text[i + 1] === '}') return i + 2;
    else i++;
  }
  return -1;
}

/** Problems of one template file's actions; collects defined and used template names. */
function templateProblems(file, text, defined, used) {
  const problems = [];
  const lineOf = (i) => text.slice(0, i).split('\n').length;
  const stack = [];
  let i = 0;
  for (;;) {
    const open = text.indexOf('{{', i);
    const stray = text.slice(i, open === -1 ? text.length : open).indexOf('}}');
    if (stray !== -1) problems.push(`${file}:${lineOf(i + stray)}: '}}' without '{{'`);
    if (open === -1) break;
    let body = open + 2;
    if (text[body] === '-' && /\s/.test(text[body + 1] ?? '')) body += 2;
    while (/[ \t\r\n]/.test(text[body] ?? '')) body++;
    if (text.startsWith('/*', body)) {
      const close = text.indexOf('*/', body + 2);
      const after = close === -1 ? -1 : close + 2;
      const m = after === -1 ? null : /^(\s+-)?\}\}/.exec(text.slice(after));
      if (m === null) {
        problems.push(`${file}:${lineOf(open)}: comment not closed by '*/}}' (or '*/ -}}')`);
        break;
      }
      i = after + m[0].length;
      continue;
    }
    const end = actionEnd(text, body);
    if (end === -1) {
      problems.push(`${file}:${lineOf(open)}: '{{' without '}}'`);
      break;
    }
    if (text.slice(body, end).includes('{{')) problems.push(`${file}:${lineOf(open)}: '{{' inside an action (a missing '}}'?)`);
    const action = text.slice(body, end - 2).replace(/\s*-?$/, '').trim();
    const word = /^[a-z]+/.exec(action)?.[0] ?? '';
    const line = lineOf(open);
    for (const m of action.matchAll(/\b(?:include|template)\s+"([^"]+)"/g)) used.push({ name: m[1], where: `${file}:${line}` });
    if (word === 'define' || word === 'block') {
      const name = /^(?:define|block)\s+"([^"]+)"/.exec(action)?.[1];
      if (name === undefined) problems.push(`${file}:${line}: ${word} without a quoted name`);
      else if (defined.has(name)) problems.push(`${file}:${line}: template "${name}" defined twice (also ${defined.get(name)})`);
      else defined.set(name, `${file}:${line}`);
    }
    if (OPENERS.has(word)) stack.push({ word, line });
    else if (word === 'else') {
      const top = stack[stack.length - 1];
      if (top === undefined || !['if', 'with', 'range'].includes(top.word)) {
        problems.push(`${file}:${line}: 'else' outside if/with/range`);
      } else if (/^else\s+(if|with)\b/.test(action)) {
        const kind = /^else\s+(if|with)\b/.exec(action)[1];
        if (kind !== top.word) problems.push(`${file}:${line}: 'else ${kind}' inside ${top.word} (line ${top.line})`);
      }
    } else if (word === 'end') {
      if (stack.pop() === undefined) problems.push(`${file}:${line}: 'end' without an open if/range/with/define/block`);
    } else if (word === 'break' || word === 'continue') {
      if (!stack.some((s) => s.word === 'range')) problems.push(`${file}:${line}: '${word}' outside range`);
    }
    i = end;
  }
  for (const s of stack) problems.push(`${file}:${s.line}: '${s.word}' has no 'end'`);
  return problems;
}

const templatesDir = join(chartDir, 'templates');
const templateFiles = readdirSync(templatesDir)
  .filter((f) => /\.(yaml|yml|tpl|txt)$/.test(f))
  .sort();
{
  const defined = new Map();
  const used = [];
  const problems = [];
  for (const f of templateFiles) problems.push(...templateProblems(`templates/${f}`, readFileSync(join(templatesDir, f), 'utf8'), defined, used));
  for (const u of used) if (!defined.has(u.name)) problems.push(`${u.where}: template "${u.name}" is not defined`);
  check(`template syntax (${templateFiles.length} files, ${defined.size} named templates)`, problems);
}

// ---------------------------------------------------------------- Chart.yaml, values.yaml

{
  const problems = [];
  let chart;
  try {
    chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8'));
    parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8'));
    JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8'));
  } catch (err) {
    problems.push(String(err.message));
  }
  if (chart) {
    if (chart.apiVersion !== 'v2') problems.push(`Chart.yaml apiVersion is ${chart.apiVersion}, want v2`);
    const pkg = JSON.parse(readFileSync(join(repoDir, 'package.json'), 'utf8'));
    if (chart.appVersion !== pkg.version) problems.push(`Chart.yaml appVersion ${chart.appVersion} differs from package.json version ${pkg.version}`);
  }
  check('Chart.yaml, values.yaml, values.schema.json parse; appVersion = package.json version', problems);
}

// ---------------------------------------------------------------- crds

{
  const problems = [];
  const generated = readdirSync(join(repoDir, 'crds')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
  const copied = readdirSync(join(chartDir, 'crds')).filter((f) => f.endsWith('.yaml'));
  for (const f of generated) {
    if (!copied.includes(f)) problems.push(`crds/${f} is missing from the chart`);
    else if (readFileSync(join(repoDir, 'crds', f), 'utf8') !== readFileSync(join(chartDir, 'crds', f), 'utf8')) problems.push(`charts/talon-operator/crds/${f} differs from crds/${f}`);
  }
  for (const f of copied) if (!generated.includes(f)) problems.push(`charts/talon-operator/crds/${f} is not a generated CRD`);
  if (problems.length > 0) problems.push('refresh with: cp crds/talon.dev_*.yaml charts/talon-operator/crds/');
  check(`chart crds/ = generated crds/ (${generated.length} files)`, problems);
}

// ---------------------------------------------------------------- rbac

/** "group|resource|verb" strings granted by a list of PolicyRules. */
function grants(rules) {
  const out = new Set();
  for (const r of rules ?? []) {
    for (const g of r.apiGroups ?? ['']) for (const res of r.resources ?? []) for (const v of r.verbs ?? []) out.add(`${g}|${res}|${v}`);
  }
  return out;
}
function setDiff(label, got, want) {
  const problems = [];
  for (const x of want) if (!got.has(x)) problems.push(`${label}: missing ${x}`);
  for (const x of got) if (!want.has(x)) problems.push(`${label}: extra ${x}`);
  return problems;
}

/** The static ClusterRole template's rules, by block: "" = unconditional, else the switch name. */
function templateRuleBlocks() {
  const text = readFileSync(join(templatesDir, 'clusterrole.yaml'), 'utf8');
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^rules:\s*$/.test(l));
  const blocks = new Map([['', []]]);
  const problems = [];
  let block = '';
  for (const [n, l] of lines.slice(start + 1).entries()) {
    const sw = /^\{\{-?\s*if and \$k8s\.enabled \$k8s\.(\w+)\s*-?\}\}\s*$/.exec(l);
    if (sw) {
      block = sw[1];
      if (blocks.has(block)) problems.push(`clusterrole.yaml: switch ${block} gates two blocks`);
      blocks.set(block, []);
    } else if (/^\{\{-?\s*end\s*-?\}\}\s*$/.test(l)) block = '';
    else if (l.includes('{{')) problems.push(`clusterrole.yaml:${start + 2 + n}: only plain YAML and single if/end lines may follow 'rules:'`);
    else blocks.get(block).push(l);
  }
  const parsed = new Map();
  for (const [k, v] of blocks) {
    try {
      parsed.set(k, parse(v.join('\n')) ?? []);
    } catch (err) {
      problems.push(`clusterrole.yaml block '${k || 'controller'}': ${err.message}`);
    }
  }
  return { blocks: parsed, problems };
}

const generatedRole = parse(readFileSync(join(repoDir, 'config/rbac/role.yaml'), 'utf8').replace(/^---\n/m, ''));
const { blocks: ruleBlocks, problems: blockProblems } = templateRuleBlocks();
{
  const all = new Set();
  for (const rules of ruleBlocks.values()) for (const g of grants(rules)) all.add(g);
  check('chart ClusterRole, every switch on = config/rbac/role.yaml', [...blockProblems, ...setDiff('chart vs role.yaml', all, grants(generatedRole.rules))]);
}

/** The aggregated ClusterRoles of a YAML text (template lines dropped), by name. */
function aggregateRoles(text) {
  const plain = text
    .replace(/\{\{-?\s*\/\*[\s\S]*?\*\/\s*-?\}\}/g, '')
    .split('\n')
    .filter((l) => !l.includes('{{') && !l.includes('}}') && !/^\s*(app\.kubernetes\.io\/component|helm\.sh|app\.kubernetes\.io\/(managed-by|instance|version))/.test(l))
    .join('\n');
  return new Map(parseAllDocuments(plain).map((d) => d.toJS()).filter((o) => o?.kind === 'ClusterRole').map((o) => [o.metadata.name, o]));
}
{
  const problems = [];
  const chart = aggregateRoles(readFileSync(join(templatesDir, 'aggregate-clusterroles.yaml'), 'utf8'));
  const config = new Map();
  for (const f of ['aggregate-edit.yaml', 'aggregate-view.yaml']) for (const [k, v] of aggregateRoles(readFileSync(join(repoDir, 'config/rbac', f), 'utf8'))) config.set(k, v);
  if (chart.size !== 2 || config.size !== 2) problems.push(`want 2 aggregated ClusterRoles in each, got chart ${chart.size}, config/rbac ${config.size}`);
  for (const [name, role] of config) {
    const twin = chart.get(name);
    if (!twin) problems.push(`${name} is missing from templates/aggregate-clusterroles.yaml`);
    else problems.push(...setDiff(`${name}: chart vs config/rbac`, grants(twin.rules), grants(role.rules)));
    const labels = Object.keys(role.metadata?.labels ?? {}).filter((l) => l.startsWith('rbac.authorization.k8s.io/aggregate-to-')).sort();
    const twinLabels = Object.keys(twin?.metadata?.labels ?? {}).filter((l) => l.startsWith('rbac.authorization.k8s.io/aggregate-to-')).sort();
    if (JSON.stringify(labels) !== JSON.stringify(twinLabels)) problems.push(`${name}: aggregation labels differ (config ${labels}, chart ${twinLabels})`);
  }
  for (const [where, roles] of [['chart', chart], ['config/rbac', config]]) {
    for (const role of roles.values()) {
      for (const g of grants(role.rules)) {
        const [group, resource] = g.split('|');
        if (group !== 'talon.dev' || !/^talon(rules|actions)(\/status)?$/.test(resource)) problems.push(`${where} ${role.metadata.name} grants ${g}: only the namespaced kinds may be aggregated to the built-in roles`);
      }
    }
  }
  check('aggregated ClusterRoles: chart = config/rbac, namespaced kinds only', problems);
}
{
  // The approver ClusterRole (templates/approver-clusterrole.yaml) is config/rbac/approver.yaml (gen-rbac).
  const chart = aggregateRoles(readFileSync(join(templatesDir, 'approver-clusterrole.yaml'), 'utf8')).get('talon-approver');
  const config = aggregateRoles(readFileSync(join(repoDir, 'config/rbac/approver.yaml'), 'utf8')).get('talon-approver');
  const problems = !chart || !config ? [`talon-approver missing from ${chart ? 'config/rbac/approver.yaml' : 'templates/approver-clusterrole.yaml'}`] : setDiff('talon-approver: chart vs config/rbac', grants(chart.rules), grants(config.rules));
  check('approver ClusterRole: chart = config/rbac/approver.yaml', problems);
}

/** Which chart switch grants each built-in actionner's RBAC. */
const SWITCH_OF = {
  'kubernetes:terminate': 'terminate',
  'kubernetes:label': 'label',
  'kubernetes:annotation': 'label',
  'kubernetes:networkpolicy': 'networkpolicy',
  'kubernetes:delete': 'delete',
  'kubernetes:cordon': 'cordon',
  'kubernetes:drain': 'drain',
  'kubernetes:exec': 'exec',
  'kubernetes:script': 'exec',
  'kubernetes:download': 'exec',
  'kubernetes:log': 'log',
  'kubernetes:tcpdump': 'tcpdump',
  'kubernetes:sysdig': 'sysdig',
  'calico:networkpolicy': 'calico',
  'cilium:networkpolicy': 'cilium',
};

const distActionners = join(repoDir, 'dist/operator/src/actionners/index.js');
const distGenRbac = join(repoDir, 'dist/scripts/gen-rbac.js');
let declared; // switch name ('' = controller) -> Set of grants
if (existsSync(distActionners) && existsSync(distGenRbac)) {
  const { builtinActionners } = await import(pathToFileURL(distActionners).href);
  const { CONTROLLER_RULES } = await import(pathToFileURL(distGenRbac).href);
  const problems = [];
  declared = new Map([['', grants(CONTROLLER_RULES)]]);
  for (const a of builtinActionners()) {
    if (a.info.rbac.length === 0) continue; // needs no Kubernetes rights (cloud functions), so no switch
    const sw = SWITCH_OF[a.info.name];
    if (sw === undefined) {
      problems.push(`actionner ${a.info.name} has no RBAC switch in the chart: add one (values.yaml, clusterrole.yaml, this file)`);
      continue;
    }
    const set = declared.get(sw) ?? new Set();
    for (const g of grants(a.info.rbac)) set.add(g);
    declared.set(sw, set);
  }
  for (const [sw, want] of declared) {
    const got = grants(ruleBlocks.get(sw));
    problems.push(...setDiff(`block '${sw || 'controller'}'`, got, want));
  }
  for (const sw of ruleBlocks.keys()) if (!declared.has(sw)) problems.push(`block '${sw}' gates no built-in actionner`);
  check('chart ClusterRole, each switch = its actionners\u2019 info.rbac', problems);
} else {
  skip('chart ClusterRole per switch', 'dist/ not built (make build)');
}

// ---------------------------------------------------------------- config

const distLoad = join(repoDir, 'dist/operator/src/config/load.js');
const loadConfig = existsSync(distLoad) ? (await import(pathToFileURL(distLoad).href)).loadConfig : undefined;
// The notifier, output and actionner settings schemas, as `talon-operator run` passes them:
// without them every notifier instance is an unknown type.
const distMain = join(repoDir, 'dist/operator/src/main.js');
const plugins = loadConfig && existsSync(distMain) ? (await import(pathToFileURL(distMain).href)).pluginSchemas() : undefined;
const scratch = mkdtempSync(join(tmpdir(), 'talon-chart-check-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

/** Files standing in for the mounted token and certificates. */
function stubFiles() {
  const files = { '/etc/talon/token/token': join(scratch, 'token') };
  writeFileSync(files['/etc/talon/token/token'], 'stub-token\n');
  try {
    const crt = join(scratch, 'tls.crt');
    const key = join(scratch, 'tls.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', crt, '-subj', '/CN=talon-operator', '-days', '1'], { stdio: 'ignore' });
    Object.assign(files, { '/etc/talon/tls/tls.crt': crt, '/etc/talon/tls/tls.key': key, '/etc/talon/client-ca/ca.crt': crt });
  } catch {
    // Without openssl, TLS configs report unreadable files; checkConfig says so.
  }
  return files;
}
const stubs = loadConfig ? stubFiles() : {};

/** Errors of the operator's loader for a config text, with mounted paths replaced by stubs. */
function configErrors(text) {
  let t = text;
  for (const [from, to] of Object.entries(stubs)) t = t.split(from).join(to);
  const file = join(scratch, `config-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, t);
  const r = loadConfig({ file, env: { POD_NAMESPACE: 'talon-system', POD_NAME: 'talon-operator-0' }, ...(plugins ? { plugins } : {}) });
  return r.ok ? [] : r.errors.map(String);
}

if (loadConfig) {
  check('config/manager/talon.yaml loads', configErrors(readFileSync(join(repoDir, 'config/manager/talon.yaml'), 'utf8')));
  const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8'));
  // What templates/_helpers.tpl "talon-operator.config" renders for the default values.
  const cfg = {
    ...values.config,
    listen: { address: '0.0.0.0', port: values.webhook.port },
    metrics: { port: values.metrics.port },
    auth: { mode: values.auth.mode, ...(values.auth.mode === 'token' ? { tokenFile: '/etc/talon/token/token' } : {}) },
  };
  check('chart default config loads', configErrors(JSON.stringify(cfg)));
} else {
  skip('configs load', 'dist/ not built (make build)');
}

// ---------------------------------------------------------------- helm

function findHelm() {
  if (process.env.HELM) return process.env.HELM;
  const r = spawnSync('helm', ['version', '--short'], { encoding: 'utf8' });
  return r.status === 0 ? 'helm' : undefined;
}

const helm = findHelm();
if (helm === undefined && process.argv.includes('--require-helm')) {
  check('helm lint / helm template', ['no helm binary ($HELM or PATH): run `bash e2e/cluster/build.sh helm` (make check-chart does)']);
} else if (helm === undefined) {
  skip('helm lint / helm template', 'no helm binary ($HELM or PATH)');
} else {
  // A helm built without its release ldflags assumes Kubernetes 1.20, below the chart's kubeVersion.
  const KUBE_VERSION = process.env.KUBE_VERSION ?? '1.30.0';
  const run = (args) => spawnSync(helm, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const lint = run(['lint', '--strict', chartDir]);
  check('helm lint --strict', lint.status === 0 ? [] : [(lint.stdout + lint.stderr).trim()]);

  const valueFiles = [undefined, ...readdirSync(join(chartDir, 'ci')).filter((f) => f.endsWith('-values.yaml')).sort()];
  for (const vf of valueFiles) {
    const label = vf ?? 'default values';
    const args = ['template', 'talon-operator', chartDir, '--namespace', 'talon-system', '--include-crds', '--kube-version', KUBE_VERSION];
    if (vf) args.push('--values', join(chartDir, 'ci', vf));
    const r = run(args);
    if (r.status !== 0) {
      check(`helm template (${label})`, [(r.stderr || r.stdout).trim()]);
      continue;
    }
    const problems = [];
    const docs = parseAllDocuments(r.stdout).filter((d) => d.contents !== null);
    const objects = [];
    for (const d of docs) {
      if (d.errors.length > 0) problems.push(d.errors[0].message);
      else objects.push(d.toJS());
    }
    const byKind = (kind) => objects.filter((o) => o?.kind === kind);
    const values = vf ? parse(readFileSync(join(chartDir, 'ci', vf), 'utf8')) ?? {} : {};
    const defaults = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8'));
    const k8s = { ...defaults.rbac.actionners.kubernetes, ...(values.rbac?.actionners?.kubernetes ?? {}) };
    const rbacCreate = values.rbac?.create ?? defaults.rbac.create;
    const role = byKind('ClusterRole').find((o) => !o.metadata.name.startsWith('talon-rule-') && o.metadata.name !== 'talon-approver');
    if (!rbacCreate) {
      if (role) problems.push('rbac.create=false but a ClusterRole was rendered');
    } else if (!role) {
      problems.push('no operator ClusterRole rendered');
    } else if (declared) {
      const want = new Set(declared.get(''));
      for (const [sw, set] of declared) if (sw !== '' && k8s.enabled && k8s[sw]) for (const g of set) want.add(g);
      problems.push(...setDiff('rendered ClusterRole', grants(role.rules), want));
    }
    const wantCrds = readdirSync(join(repoDir, 'crds')).filter((f) => /^talon\.dev_[a-z]+\.yaml$/.test(f)).length;
    if (byKind('CustomResourceDefinition').length !== wantCrds) problems.push(`${byKind('CustomResourceDefinition').length} CRDs rendered, want ${wantCrds} (one per generated crds/talon.dev_<plural>.yaml)`);
    if (byKind('ValidatingAdmissionPolicy').length !== 1 || byKind('ValidatingAdmissionPolicyBinding').length !== 1) problems.push('the TalonApproval admission policy and its binding are not rendered exactly once');
    const deploy = byKind('Deployment')[0];
    if (!deploy) problems.push('no Deployment rendered');
    const cm = byKind('ConfigMap')[0];
    if (!cm) problems.push('no ConfigMap rendered');
    else if (loadConfig) problems.push(...configErrors(cm.data['config.yaml']).map((e) => `config.yaml: ${e}`));
    if (deploy && cm) {
      const vol = deploy.spec.template.spec.volumes.find((v) => v.name === 'config');
      if (vol?.configMap?.name !== cm.metadata.name) problems.push('the Deployment does not mount the rendered ConfigMap');
    }
    check(`helm template (${label}): ${objects.length} objects`, problems);
  }
  // Values the chart must refuse, each for the stated reason.
  for (const [label, set, reason] of [
    ['mtls without tls', ['auth.mode=mtls'], 'auth.mode mtls needs tls.enabled'],
    ['tls without a Secret', ['tls.enabled=true'], 'tls.enabled needs tls.secretName'],
    ['unknown auth mode', ['auth.mode=basic'], "'/auth/mode'"],
    ['metrics on the webhook port', ['metrics.port=2803'], 'metrics.port must differ'],
    ['config.auth set directly', ['config.auth.mode=none'], 'config.auth is set by the chart'],
    ['an unknown RBAC switch', ['rbac.actionners.kubernetes.shell=true'], "additional properties 'shell'"],
    // values.schema.json: a wrong type is named with its path, what came and what is wanted.
    ['a string for an RBAC switch', ['rbac.actionners.kubernetes.terminate=maybe'], "at '/rbac/actionners/kubernetes/terminate': got string, want boolean"],
    ['a string for the webhook port', ['webhook.port=http'], "at '/webhook/port': got string, want integer"],
    ['uncoordinated replicas', ['replicaCount=2', 'config.coordination.enabled=false'], 'replicaCount > 1 needs config.coordination.enabled'],
  ]) {
    const r = run(['template', 'x', chartDir, '--kube-version', KUBE_VERSION, ...set.flatMap((s) => ['--set', s])]);
    const out = `${r.stdout}${r.stderr}`;
    check(
      `helm template refuses ${label} (${reason})`,
      r.status === 0 ? ['rendered without error'] : out.includes(reason) ? [] : [`refused, but not for '${reason}': ${out.trim()}`],
    );
  }
  const old = run(['template', 'x', chartDir, '--kube-version', '1.24.0']);
  check('helm template refuses Kubernetes 1.24', old.status !== 0 && `${old.stderr}`.includes('kubeVersion') ? [] : ['rendered, or failed for another reason']);
}

console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
