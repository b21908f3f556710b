// segkpi.segment_migration: customers moving between segments from the
// previous snapshot to the latest.
import {dump} from "../../loaders/segkpi.js";

await dump("segment_migration", (sql) => sql`SELECT * FROM segkpi.segment_migration ORDER BY segmentation, from_segment, to_segment`);
