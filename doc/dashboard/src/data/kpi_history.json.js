// segkpi.kpi_history: point-in-time history, each snapshot's own members in
// its own last complete period (what trend charts show).
import {dump} from "../../loaders/segkpi.js";

await dump("kpi_history", (sql) => sql`SELECT * FROM segkpi.kpi_history ORDER BY segmentation, segment, as_of, period_start`);
