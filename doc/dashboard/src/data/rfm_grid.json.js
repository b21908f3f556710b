// segkpi.rfm_grid: customers and mean monetary per recency x frequency score.
import {dump} from "../../loaders/segkpi.js";

await dump("rfm_grid", (sql) => sql`SELECT * FROM segkpi.rfm_grid ORDER BY r, f`);
