// segkpi.kpi_latest: KPIs per segmentation and segment for the latest
// snapshot's last complete period.
import {dump} from "../../loaders/segkpi.js";

await dump("kpi_latest", (sql) => sql`SELECT * FROM segkpi.kpi_latest ORDER BY segmentation, segment`);
