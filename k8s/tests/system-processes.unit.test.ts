/**
 * GET /api/admin/system asks every process of the system on its own port (SYSTEM_PROCESS_URLS,
 * k8s/config.env, read by Kubernetes and compose alike): the list names exactly the processes
 * npm start runs (libs/devstack/src/services.ts), and each URL reaches that process's pods
 * through a Service (Kubernetes) or its container (compose) on its port.
 */
import { appDeployment, compose, composeEnv, containerEnv, named, PROCESSES, portNumber, selects, type ServiceObject } from './support';

const parse = (value: string | undefined): Array<{ name: string; host: string; port: number }> =>
  (value ?? '').split(',').filter(Boolean).map((entry) => {
    const [name = '', url = ''] = entry.split('=');
    const u = new URL(url);
    return { name, host: u.hostname, port: Number(u.port) };
  });

describe('SYSTEM_PROCESS_URLS of the order service', () => {
  const k8s = parse(containerEnv(appDeployment('order-service').container).SYSTEM_PROCESS_URLS);

  it('names every process npm start runs, each at its own name and port', () => {
    expect(k8s).toEqual(PROCESSES.map((p) => ({ name: p.name, host: p.name, port: p.port })));
  });

  it('Kubernetes: each URL is a Service that selects that process\'s pods on the port they listen on', () => {
    for (const { name, host, port } of k8s) {
      const service = named<ServiceObject>('Service', host);
      const { deployment, container } = appDeployment(name);
      expect([name, selects(service.spec.selector ?? {}, deployment.spec.template.metadata.labels)]).toEqual([name, true]);
      const servicePort = service.spec.ports.find((p) => p.port === port);
      expect([name, portNumber(servicePort?.targetPort ?? servicePort?.port, container)]).toEqual([name, port]);
    }
  });

  it('compose: the same list, each URL a container of that name listening on that port', () => {
    const services = compose().services;
    const env = composeEnv(services['order-service'] ?? {});
    expect(parse(env.SYSTEM_PROCESS_URLS)).toEqual(k8s);
    for (const { name, port } of k8s) expect([name, composeEnv(services[name] ?? {}).PORT]).toEqual([name, String(port)]);
  });
});
