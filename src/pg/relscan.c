/*
 * relscan.c - see relscan.h.
 */
#include "postgres.h"

#include "access/hash.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tstoreReceiver.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "glue.h"
#include "relscan.h"

/* ---- the relation and its columns ------------------------------------- */

void
segkpi_relscan_check_relation(const char *fname, Oid relid)
{
	if (get_rel_name(relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("%s: relation with OID %u does not exist", fname, relid)));
}

Oid
segkpi_relscan_column(const char *fname, Oid relid, const char *col, Oid *coll)
{
	AttrNumber	att = get_attnum(relid, col);
	Oid			typid;
	int32		typmod;

	if (att == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s: column \"%s\" of relation \"%s\" does not exist",
						fname, col, get_rel_name(relid))));
	/* xmin, ctid and the like: not data a user put there */
	if (att < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s: column \"%s\" of relation \"%s\" is a system column",
						fname, col, get_rel_name(relid)),
				 errdetail("Only the relation's own columns can be read.")));
	get_atttypetypmodcoll(relid, att, &typid, &typmod, coll);
	return typid;
}

Oid
segkpi_relscan_key_column(const char *fname, Oid relid, const char *col, Oid key_type)
{
	Oid			coll;
	Oid			type = segkpi_relscan_column(fname, relid, col, &coll);

	if (type != key_type)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s: key_type is %s, but column \"%s\" is %s",
						fname, format_type_be(key_type), col, format_type_be(type)),
				 errhint("Pass NULL::%s as key_type: the result's customer column has the key's own type.",
						 format_type_be(type))));
	return coll;
}

void
segkpi_relscan_implicit(const char *fname, Oid relid, const char *col, Oid target)
{
	Oid			coll;
	Oid			type = segkpi_relscan_column(fname, relid, col, &coll);

	if (!can_coerce_type(1, &type, &target, COERCION_IMPLICIT))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s: column \"%s\" is %s, which does not convert to %s implicitly",
						fname, col, format_type_be(type), format_type_be(target)),
				 errhint("Cast the column in a view and pass the view.")));
}

char *
segkpi_relscan_relation(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/* ---- customer keys ---------------------------------------------------- */

bool
segkpi_keys_setup(RelScanKeys *k, Oid type, Oid coll, MemoryContext cxt)
{
	TypeCacheEntry *tc;
	Oid			eq;

	memset(k, 0, sizeof(*k));
	get_typlenbyval(type, &k->len, &k->byval);
	k->coll = coll;
	switch (getBaseType(type))
	{
		case INT2OID:
			k->kind = KEY_INT2;
			return true;
		case INT4OID:
			k->kind = KEY_INT4;
			return true;
		case INT8OID:
			k->kind = KEY_INT8;
			return true;
	}
	k->kind = KEY_HASHED;
	tc = lookup_type_cache(type, TYPECACHE_HASH_OPFAMILY | TYPECACHE_HASH_EXTENDED_PROC);
	if (!OidIsValid(tc->hash_opf) || !OidIsValid(tc->hash_extended_proc))
		return false;
	/* the equality of the same operator class, so that equal keys hash alike */
	eq = get_opfamily_member(tc->hash_opf, tc->hash_opintype, tc->hash_opintype,
							 HTEqualStrategyNumber);
	if (!OidIsValid(eq))
		return false;
	fmgr_info_cxt(tc->hash_extended_proc, &k->hash_fn, cxt);
	fmgr_info_cxt(get_opcode(eq), &k->eq_fn, cxt);
	return true;
}

Datum
segkpi_keys_datum(const RelScanKeys *k, uint64 stored, uint32 idx)
{
	switch (k->kind)
	{
		case KEY_INT2:
			return Int16GetDatum((int16) (int64) stored);
		case KEY_INT4:
			return Int32GetDatum((int32) (int64) stored);
		case KEY_INT8:
			return Int64GetDatum((int64) stored);
		default:
			return k->copies[idx];
	}
}

uint64
segkpi_keys_probe(RelScanKeys *k, Datum d)
{
	k->probe = k->len == -1 ? PointerGetDatum(PG_DETOAST_DATUM_PACKED(d)) : d;
	return DatumGetUInt64(FunctionCall2Coll(&k->hash_fn, k->coll, k->probe, UInt64GetDatum(0)));
}

int
segkpi_keys_equal(void *arg, uint32_t idx)
{
	RelScanKeys *k = (RelScanKeys *) arg;

	return DatumGetBool(FunctionCall2Coll(&k->eq_fn, k->coll, k->copies[idx], k->probe));
}

void
segkpi_keys_keep(RelScanKeys *k, uint32 idx, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);

	k->copies[idx] = datumCopy(k->probe, k->byval, k->len);
	MemoryContextSwitchTo(old);
	if (!k->byval)
		k->bytes += datumGetSize(k->copies[idx], false, k->len) + 16;	/* + chunk header */
}

/* ---- memory ----------------------------------------------------------- */

void
segkpi_relscan_mem_init(RelScanMem *m, Size record_size, RelScanKeys *k,
						sk_ctab_slot **slots, void **records)
{
	m->cxt = AllocSetContextCreate(CurrentMemoryContext, "segkpi customers",
								   ALLOCSET_DEFAULT_SIZES);
	m->limit = get_hash_memory_limit();
	m->record_size = record_size;
	m->slot_cap = 2048;
	m->record_cap = 1024;
	m->other = 0;
	*slots = segkpi_alloc_huge(m->cxt, sk_ctab_bytes(m->slot_cap));

	/*
	 * The records get a mapping of their own: 2 MB aligned, so no 64-byte
	 * record straddles two cache lines (palloc's chunk header put them 16
	 * bytes off, and the pass's prefetch of a record then brought in only
	 * half of it), and backed by huge pages where they are on request.
	 */
	m->records_map = MemoryContextAlloc(m->cxt, sizeof(SegkpiMap));
	segkpi_map_attach(m->records_map, m->cxt);
	*records = segkpi_map_resize(m->records_map, m->record_cap * record_size, 0);
	if (k->kind == KEY_HASHED)
		k->copies = MemoryContextAlloc(m->cxt, m->record_cap * sizeof(Datum));
}

static Size
bytes_for(const RelScanMem *m, const RelScanKeys *k, uint64 slot_cap, uint64 record_cap)
{
	Size		b = sk_ctab_bytes(slot_cap) + (Size) record_cap * m->record_size + m->other;

	if (k->kind == KEY_HASHED)
		b += (Size) record_cap * sizeof(Datum) + k->bytes;
	return b;
}

Size
segkpi_relscan_mem_used(const RelScanMem *m, const RelScanKeys *k)
{
	return bytes_for(m, k, m->slot_cap, m->record_cap);
}

bool
segkpi_relscan_mem_grow(RelScanMem *m, RelScanKeys *k, uint64 count, unsigned inflight,
						sk_ctab_slot **slots, sk_ctab_slot **old_slots, void **records)
{
	uint64		need = count + inflight + 1;
	uint64		slot_cap = m->slot_cap;
	uint64		record_cap = m->record_cap;

	while (need > slot_cap / 2)
		slot_cap *= 2;
	while (need > record_cap)
		record_cap *= 2;
	if (slot_cap > SK_CTAB_MAX_CAPACITY || bytes_for(m, k, slot_cap, record_cap) > m->limit)
		return false;
	*old_slots = *slots;
	if (record_cap != m->record_cap)
	{
		/*
		 * A fresh mapping rather than a reallocation: realloc moves the old
		 * pages as they are, 4 kB ones, while fresh memory advised before
		 * its first touch gets huge pages, and with them far fewer TLB
		 * misses on the random accesses of the pass.
		 */
		*records = segkpi_map_resize(m->records_map, (Size) record_cap * m->record_size,
									 (Size) count * m->record_size);
		if (k->kind == KEY_HASHED)
			k->copies = repalloc_huge(k->copies, (Size) record_cap * sizeof(Datum));
	}
	if (slot_cap != m->slot_cap)
		*slots = segkpi_alloc_huge(m->cxt, sk_ctab_bytes(slot_cap));
	m->slot_cap = slot_cap;
	m->record_cap = record_cap;
	return true;
}

/* ---- queries ---------------------------------------------------------- */

void
segkpi_relscan_run(const char *fname, const char *query, int n, const Oid *types,
				   const Datum *values, DestReceiver *dest, bool parallel)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(query, n, (Oid *) types,
										  parallel ? CURSOR_OPT_PARALLEL_OK : 0);
	ParamListInfo params = makeParamList(n);
	SPIExecuteOptions opt;
	int			i,
				rc;

	if (plan == NULL)
		elog(ERROR, "%s: could not prepare \"%s\": %s", fname, query,
			 SPI_result_code_string(SPI_result));
	for (i = 0; i < n; i++)
	{
		params->params[i].value = values[i];
		params->params[i].isnull = false;
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = types[i];
	}
	memset(&opt, 0, sizeof(opt));
	opt.params = params;
	opt.read_only = true;
	opt.dest = dest;
	rc = SPI_execute_plan_extended(plan, &opt);
	/* a SELECT into a receiver other than SPI's own reports SPI_OK_UTILITY */
	if (rc != SPI_OK_SELECT && rc != SPI_OK_UTILITY)
		elog(ERROR, "%s: query failed: %s", fname, SPI_result_code_string(rc));
	SPI_freeplan(plan);
}

void
segkpi_relscan_run_into(const char *fname, const char *query, int n, const Oid *types,
						const Datum *values, ReturnSetInfo *rsinfo)
{
	DestReceiver *dest = CreateDestReceiver(DestTuplestore);

	SetTuplestoreDestReceiverParams(dest, rsinfo->setResult,
									rsinfo->econtext->ecxt_per_query_memory, false,
									rsinfo->setDesc,
									psprintf("%s: the SQL form returned unexpected columns", fname));
	segkpi_relscan_run(fname, query, n, types, values, dest, true);
	dest->rDestroy(dest);
}
