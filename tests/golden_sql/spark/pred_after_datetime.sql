SELECT
  `u`.`user_id` AS `user_id`
FROM users AS `u`
WHERE
  CASE
    WHEN `u`.`first_used` > CAST('2026-11-30 00:00:00+00:00' AS TIMESTAMP)
    THEN CAST('2026-11-30 00:00:00+00:00' AS TIMESTAMP)
    ELSE `u`.`first_used`
  END > CAST('2025-06-01 07:30:00+00:00' AS TIMESTAMP)
