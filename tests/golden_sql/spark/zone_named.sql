SELECT
  `u`.`user_id` AS `user_id`
FROM users AS `u`
WHERE
  (
    CAST('2026-10-26 00:00:00+00:00' AS TIMESTAMP) < `u`.`last_used`
    AND `u`.`last_used` <= CAST('2026-11-02 00:00:00+00:00' AS TIMESTAMP)
  )
  AND (
    CASE
      WHEN `u`.`first_used` > CAST('2026-11-30 00:00:00+00:00' AS TIMESTAMP)
      THEN CAST('2026-11-30 00:00:00+00:00' AS TIMESTAMP)
      ELSE `u`.`first_used`
    END > CAST('2025-12-31 18:30:00+00:00' AS TIMESTAMP)
  )
