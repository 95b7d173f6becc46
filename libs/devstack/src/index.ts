export { SERVICES, GATEWAY_PORT, MANAGEMENT_UI_PORT, type ServiceSpec } from './services';
