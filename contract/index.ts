export * from './ids';
export * from './messages';
export * from './metrics';
export * from './reading';
export * from './topics';
export * from './remote-config';
