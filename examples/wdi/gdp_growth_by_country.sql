-- GDP growth for every country, sorted by country and year.
-- Original HiveQL: ... DISTRIBUTE BY countryName SORT BY countryName, year
-- (or CLUSTER BY countryName). Hive's SORT BY only sorts within each reducer and
-- DISTRIBUTE BY only chooses the reducer; lgs runs ORDER BY, a total order, which is
-- what those queries were after. Missing values are nulls (the Hive table had zeros).
SELECT country_name, country_code, year, indicator_value AS gdp_growth
FROM wdi
WHERE indicator_code = 'NY.GDP.MKTP.KD.ZG'
ORDER BY country_name, year;
