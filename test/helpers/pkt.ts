/* test/helpers/pkt.ts - the packet builder the tests use (independent of the engine). */
export * from '../../host/packet-builder.ts';
