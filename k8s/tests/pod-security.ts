/**
 * The `restricted` Pod Security Standard's rules (with baseline's, which it includes), as Pod
 * Security Admission applies them to a pod template:
 * https://kubernetes.io/docs/concepts/security/pod-security-standards/
 */
import type { PodTemplate } from './support';

/* eslint-disable @typescript-eslint/no-explicit-any -- pod specs are checked field by field, as the admission plugin reads them */
type Spec = Record<string, any>;

const RESTRICTED_VOLUME_TYPES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];
const SAFE_SYSCTLS = [
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
];
const SELINUX_TYPES = ['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t'];

/** What in a pod spec breaks the restricted profile (empty: it complies). */
export function restrictedViolations(template: PodTemplate): string[] {
  const pod = template.spec as unknown as Spec;
  const problems: string[] = [];
  const podContext: Spec = pod.securityContext ?? {};
  const containers: Array<[string, Spec]> = [
    ...(pod.initContainers ?? []).map((c: Spec) => [`initContainer ${c.name}`, c] as [string, Spec]),
    ...(pod.containers ?? []).map((c: Spec) => [`container ${c.name}`, c] as [string, Spec]),
    ...(pod.ephemeralContainers ?? []).map((c: Spec) => [`ephemeralContainer ${c.name}`, c] as [string, Spec]),
  ];

  // Baseline: host namespaces, host paths and ports, privileged, capabilities, AppArmor, SELinux, /proc, sysctls.
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC']) if (pod[field] === true) problems.push(`${field}: true`);
  if (podContext.windowsOptions?.hostProcess === true) problems.push('pod: windowsOptions.hostProcess');
  for (const v of pod.volumes ?? []) {
    const type = Object.keys(v).find((k) => k !== 'name') ?? '?';
    if (!RESTRICTED_VOLUME_TYPES.includes(type)) problems.push(`volume ${v.name}: ${type} volumes are not allowed`);
  }
  for (const s of podContext.sysctls ?? []) if (!SAFE_SYSCTLS.includes(s.name)) problems.push(`sysctl ${s.name} is not a safe sysctl`);
  const seLinux = (where: string, options: Spec | undefined) => {
    if (!options) return;
    if (!SELINUX_TYPES.includes(options.type ?? '')) problems.push(`${where}: seLinuxOptions.type ${options.type}`);
    if (options.user !== undefined || options.role !== undefined) problems.push(`${where}: seLinuxOptions user/role may not be set`);
  };
  seLinux('pod', podContext.seLinuxOptions);
  const appArmor = (where: string, profile: Spec | undefined) => {
    if (profile && !['RuntimeDefault', 'Localhost'].includes(profile.type)) problems.push(`${where}: appArmorProfile ${profile.type}`);
  };
  appArmor('pod', podContext.appArmorProfile);

  // Restricted: non-root, seccomp, no privilege escalation, capabilities dropped.
  const podNonRoot = podContext.runAsNonRoot === true;
  const podSeccomp = podContext.seccompProfile?.type;
  if (podSeccomp !== undefined && !['RuntimeDefault', 'Localhost'].includes(podSeccomp)) problems.push(`pod: seccompProfile ${podSeccomp}`);
  if (podContext.runAsUser === 0) problems.push('pod: runAsUser 0');

  for (const [where, c] of containers) {
    const sc: Spec = c.securityContext ?? {};
    if (sc.privileged === true) problems.push(`${where}: privileged`);
    if (sc.windowsOptions?.hostProcess === true) problems.push(`${where}: windowsOptions.hostProcess`);
    for (const p of c.ports ?? []) if (p.hostPort !== undefined && p.hostPort !== 0) problems.push(`${where}: hostPort ${p.hostPort}`);
    if (sc.procMount !== undefined && sc.procMount !== 'Default') problems.push(`${where}: procMount ${sc.procMount}`);
    seLinux(where, sc.seLinuxOptions);
    appArmor(where, sc.appArmorProfile);
    if (sc.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation must be false`);
    if (!(sc.runAsNonRoot === true || (podNonRoot && sc.runAsNonRoot !== false))) problems.push(`${where}: runAsNonRoot must be true (pod or container)`);
    if (sc.runAsUser === 0) problems.push(`${where}: runAsUser 0`);
    const seccomp = sc.seccompProfile?.type ?? podSeccomp;
    if (!['RuntimeDefault', 'Localhost'].includes(seccomp)) problems.push(`${where}: seccompProfile must be RuntimeDefault or Localhost (pod or container)`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) problems.push(`${where}: capabilities must drop ALL`);
    for (const cap of sc.capabilities?.add ?? []) if (cap !== 'NET_BIND_SERVICE') problems.push(`${where}: capability ${cap} may not be added`);
  }
  for (const [key, value] of Object.entries<string>(template.metadata.annotations ?? {})) {
    if (key.startsWith('container.apparmor.security.beta.kubernetes.io/') && !(value === 'runtime/default' || value.startsWith('localhost/'))) problems.push(`annotation ${key}: ${value}`);
  }
  return problems;
}
