export * from './envelope';
export * from './contracts';
