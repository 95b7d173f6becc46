export { Broker, ManagedChannel, type BrokerOptions } from './broker';
export { defineTopology, assertTopology, type Topology, type TopologyDefinition, type QueueSpec, type RetryLevel } from './topology';
export { enqueueEvents, outboxInsert, eventFactory, OutboxRelay, type OutgoingEvent, type RelayOptions } from './outbox';
export { QueueConsumer, type ConsumerOptions } from './consumer';
export { BULK_LANE, on, onBatch, type Handler, type BatchHandler, type HandlerContext, type MessageContext, type HandlerSpec, type Subscriptions, type QueueSubscription } from './handlers';
export { listParked, replayParked, discardParked, parkedCount, type ParkedMessage, type ParkedFilter } from './dead-letters';
export { Messaging, type MessagingOptions, type MessagingStatus, type Publish } from './messaging';
export { pgTransactions, pgStatements, type SqlClient, type TransactionRunner } from './sql';
export { H as MessageHeaders } from './headers';
