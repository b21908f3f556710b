// segkpi.cluster_profiles: k-means centroids in original units.
import {dump} from "../../loaders/segkpi.js";

await dump("cluster_profiles", (sql) => sql`SELECT * FROM segkpi.cluster_profiles ORDER BY segmentation, segment`);
