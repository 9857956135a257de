/** Projections: the pure fold (events -> row changes), its in-memory tables and the read-model types. */
export * from './readModels.js';
export {
  PROJECTION_NAMES,
  PROJECTION_VERSIONS,
  type Change,
  type ProjectionName,
} from './changes.js';
export { changesOf, changesOfRecords, isModel } from './fold.js';
export { PREVIEW_CHARS, canonicalJson, preview } from './preview.js';
export { ProjectionTables } from './tables.js';
export { foldingReadModels, type FoldingReadModels } from './memory.js';
