#!/usr/bin/env bash
# Writes the seed corpora (fuzz/corpus/<target>/) from the repository's test data:
# small real inputs of every shape each parser accepts. Run once; libFuzzer adds
# what it finds to the same directories (kept in git, minimised with `cargo fuzz cmin`).
set -eu
cd "$(dirname "$0")"
T=../crates/lgs/tests/data
C=corpus
mkdir -p $C/{csv,wdi,pg_dump,pg_copy_line,pg_insert_values,values,xlsx,parquet,stream,pg_wire}
cp $T/handmade.csv $C/csv/handmade.csv
cp $T/split_invoice.csv $C/csv/split_invoice.csv
head -40 $T/pg/retail.csv > $C/csv/pg_export.csv
zstdcat ../data/online_retail_II.csv.zst | head -30 > $C/csv/online_retail_II_head.csv
gzip -c $T/handmade.csv > $C/csv/handmade.csv.gz
zstd -q -c $T/handmade.csv > $C/csv/handmade.csv.zst
for f in ../data/wdi/*.csv; do
  n=$(basename "$f" .csv)
  { printf '\0'; head -25 "$f"; } > "$C/wdi/$n.csv"
  { printf '\1'; head -25 "$f"; } > "$C/wdi/$n.named.csv"
done
# Dumps: the schema part, 20 rows, the end of the block / statements.
{ head -66 $T/pg/retail.sql; echo '\.'; } > $C/pg_dump/copy.sql
grep -n '599001\|599002' $T/pg/retail.sql | cut -d: -f1 | head -3 | while read -r l; do sed -n "${l}p" $T/pg/retail.sql; done > $C/pg_copy_line/escapes.txt
sed -n 48,60p $T/pg/retail.sql | while IFS= read -r line; do printf '%s' "$line" > "$C/pg_copy_line/$(printf '%s' "$line" | cksum | cut -d' ' -f1)"; done
head -60 $T/pg/retail_inserts.sql > $C/pg_dump/inserts.sql
awk '/^INSERT/ {n++} n<=3' $T/pg/retail_column_inserts.sql | head -150 > $C/pg_dump/column_inserts.sql
grep -m 20 '^INSERT' $T/pg/retail_inserts.sql | sed 's/^.* VALUES //' | while IFS= read -r v; do printf '%s' "$v" > "$C/pg_insert_values/$(printf '%s' "$v" | cksum | cut -d' ' -f1)"; done
grep -a "599001\|599002" $T/pg/retail_inserts.sql | sed 's/^.* VALUES //' > $C/pg_insert_values/escapes.txt
i=0
for v in "2009-12-01 07:45:00" "12/1/2009 7:45" "2011-12-09T12:50:00.5" "2.55" "-11062.06" ".5" \
         "1.250000" "12346.0" " 17850 " "-80995" "99999999999" "1e3" "2009-02-30 07:45"; do
  printf '%s' "$v" > "$C/values/seed$i"; i=$((i+1))
done
# Stream messages (first byte: 0 JSON, 1-3 CSV under a header shape; messages
# separated by 0x1E).
json='{"InvoiceNo":"536365","StockCode":"85123A","Description":"HEART","Quantity":6,"InvoiceDate":"12/1/2010 8:26","UnitPrice":2.55,"CustomerID":17850,"Country":"United Kingdom"}'
json2='{"country":"France","customer_id":null,"unit_price":"1.10","invoice_date":"2011-01-02 10:00:00","quantity":"-2","description":"X","stock_code":"22","invoice_no":"C1"}'
printf '\0%s\036%s\036%s\n' "$json" "$json2" "$json" > $C/stream/json
tail -n +2 $T/handmade.csv | { printf '\1'; tr '\n' '\036'; } > $C/stream/csv_warehouse
zstdcat ../data/online_retail_II.csv.zst | sed -n 2,12p | { printf '\2'; tr '\n' '\036'; } > $C/stream/csv_online_retail_II
# Connections to the PostgreSQL protocol: simple and extended queries.
python3 pg_wire_seeds.py $C/pg_wire
# Workbooks and Parquet files from lgs's own generator (LGS: the lgs binary).
LGS=${LGS:-lgs}
"$LGS" -q generate retail --rows 40 --seed 1 --out $C/xlsx/generated.xlsx
"$LGS" -q generate retail --rows 40 --seed 2 --out $C/parquet/generated.parquet
