-- Canada's GDP growth (annual %) in 2015.
-- Original HiveQL: SELECT indicatorValue FROM wdi
--   WHERE year = 2015 AND countryName = 'Canada' AND indicatorCode = 'NY.GDP.MKTP.KD.ZG';
-- The year filter prunes the scan to the year=2015 partition.
SELECT indicator_value
FROM wdi
WHERE year = 2015
  AND country_name = 'Canada'
  AND indicator_code = 'NY.GDP.MKTP.KD.ZG';
