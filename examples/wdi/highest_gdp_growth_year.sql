-- The year of highest GDP growth for each country.
-- Missing values are ignored (a country with no value at all is not listed).
-- Ties: every year that reaches the maximum is listed, earliest first.
WITH growth AS (
  SELECT country_name, country_code, year, indicator_value AS gdp_growth
  FROM wdi
  WHERE indicator_code = 'NY.GDP.MKTP.KD.ZG' AND indicator_value IS NOT NULL
),
best AS (
  SELECT country_code, max(gdp_growth) AS max_growth FROM growth GROUP BY country_code
)
SELECT g.country_name, g.country_code, g.year, g.gdp_growth
FROM growth g
JOIN best b ON g.country_code = b.country_code AND g.gdp_growth = b.max_growth
ORDER BY g.country_name, g.year;
