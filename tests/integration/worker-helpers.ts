export { BullMqQueue } from '../../src/adapters/job-queue/bullmq.js';
export { QUEUE_NAME as QUEUE_NAME_FOR_TESTS } from '../../src/adapters/job-queue/index.js';
