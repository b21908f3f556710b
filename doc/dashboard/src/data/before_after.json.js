// segkpi.before_after: KPIs over all customers before and after the launch
// date (settings.launch_date).
import {dump} from "../../loaders/segkpi.js";

await dump("before_after", (sql) => sql`SELECT * FROM segkpi.before_after`);
