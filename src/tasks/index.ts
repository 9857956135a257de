export {
  createTaskClient,
  type PendingInput,
  type Task,
  type TaskClient,
  type TaskClientOptions,
  type TaskQuery,
} from './taskClient.js';
