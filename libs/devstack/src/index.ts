export { SERVICES, PROCESSES, SYSTEM_PORTS, BULK_NICE, GATEWAY_PORT, MANAGEMENT_UI_PORT, type ServiceSpec, type ProcessSpec } from './services';
export { isConsuming, isUp, startSystem, type SystemOptions, type RunningSystem } from './system';
export { renderTemplate, GATEWAY_TEMPLATE, findNginx } from './gateway';
export { audit, formatReport, type AuditReport, type AuditOptions } from './audit';
export { LocalCluster, type QueueInfo, type QuorumMember } from './cluster';
export { clusterLayout, type ClusterNode, type ClusterOptions } from './cluster-node';
