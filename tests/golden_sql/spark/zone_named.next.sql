SELECT
  `u`.`user_id` AS `user_id`,
  CAST('2026-12-01 02:30:00+00:00' AS TIMESTAMP) AS `send_at`
FROM users AS `u`
WHERE
  (
    CAST('2026-10-27 02:30:00+00:00' AS TIMESTAMP) < CASE
      WHEN `u`.`last_used` > CAST('2026-11-30 00:00:00+00:00' AS TIMESTAMP)
      THEN CAST('2026-11-30 00:00:00+00:00' AS TIMESTAMP)
      ELSE `u`.`last_used`
    END
    AND CASE
      WHEN `u`.`last_used` > CAST('2026-11-30 00:00:00+00:00' AS TIMESTAMP)
      THEN CAST('2026-11-30 00:00:00+00:00' AS TIMESTAMP)
      ELSE `u`.`last_used`
    END <= CAST('2026-11-03 02:30:00+00:00' AS TIMESTAMP)
  )
  AND (
    CASE
      WHEN `u`.`first_used` > CAST('2026-11-30 00:00:00+00:00' AS TIMESTAMP)
      THEN CAST('2026-11-30 00:00:00+00:00' AS TIMESTAMP)
      ELSE `u`.`first_used`
    END > CAST('2025-12-31 18:30:00+00:00' AS TIMESTAMP)
  )
