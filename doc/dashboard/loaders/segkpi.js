// loaders/segkpi.js - what every data loader of the dashboard shares.
//
// A loader reads one segkpi dashboard view as the dashboard role and
// writes it to stdout as JSON: {view, columns, rows}.  The connection comes
// from the libpq variables (PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD),
// so the role is whatever segkpi.grant_dashboard_access was given to; the
// session is read-only.  Numbers arrive as JavaScript numbers (bigint and
// numeric are exact in PostgreSQL, but a chart needs a number), dates and
// timestamps as PostgreSQL prints them, so as_of is shown exactly as the
// snapshot recorded it, time zone included.
import postgres from "postgres";

const asNumber = (x) => (x === null ? null : Number(x));
const asText = (x) => x;

function connect() {
  return postgres({
    max: 1,
    connect_timeout: 15,
    onnotice: () => {},
    connection: {
      application_name: "segkpi-dashboard",
      default_transaction_read_only: "on",
      statement_timeout: "60000"
    },
    types: {
      int8: {to: 20, from: [20], serialize: String, parse: asNumber},
      numeric: {to: 1700, from: [1700], serialize: String, parse: asNumber},
      date: {to: 1082, from: [1082], serialize: String, parse: asText},
      timestamptz: {to: 1184, from: [1184], serialize: String, parse: asText}
    }
  });
}

// The view's columns with their COMMENTs: the pages show them as header
// tooltips, so the definition travels with the figure.
async function columnsOf(sql, view) {
  return sql`
    SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
           col_description(a.attrelid, a.attnum) AS comment
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = ${"segkpi." + view}::regclass AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY a.attnum`;
}

// dump(view, query): query is a function of the connection returning the
// rows (a tagged template, so nothing is concatenated into SQL).
export async function dump(view, query) {
  const sql = connect();
  try {
    const columns = await columnsOf(sql, view);
    const rows = await query(sql);
    process.stdout.write(JSON.stringify({view: `segkpi.${view}`, columns: [...columns], rows: [...rows]}));
  } catch (error) {
    console.error(`segkpi dashboard: reading segkpi.${view} failed: ${error.message}`);
    if (error.code === "42501")
      console.error("the role lacks access: run SELECT segkpi.grant_dashboard_access('<role>') as the extension's owner");
    process.exitCode = 1;
  } finally {
    await sql.end({timeout: 5});
  }
}
