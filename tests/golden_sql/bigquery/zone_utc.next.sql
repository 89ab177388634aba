SELECT
  `u`.`user_id` AS `user_id`,
  CAST('2026-12-03 17:45:00+00:00' AS TIMESTAMP) AS `send_at`
FROM users AS `u`
WHERE
  (
    CAST('2026-11-12 17:45:00+00:00' AS TIMESTAMP) < CASE
      WHEN `u`.`last_used` > CAST('2026-11-30 00:00:00+00:00' AS TIMESTAMP)
      THEN CAST('2026-11-30 00:00:00+00:00' AS TIMESTAMP)
      ELSE `u`.`last_used`
    END
    AND CASE
      WHEN `u`.`last_used` > CAST('2026-11-30 00:00:00+00:00' AS TIMESTAMP)
      THEN CAST('2026-11-30 00:00:00+00:00' AS TIMESTAMP)
      ELSE `u`.`last_used`
    END <= CAST('2026-11-19 17:45:00+00:00' AS TIMESTAMP)
  )
  AND (
    `u`.`sessions` >= 3
  )
