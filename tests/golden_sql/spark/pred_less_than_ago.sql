SELECT
  `u`.`user_id` AS `user_id`
FROM users AS `u`
WHERE
  (
    `u`.`first_used` > CAST('2026-11-28 12:00:00+00:00' AS TIMESTAMP)
  )
  AND (
    `u`.`last_used` > CAST('2026-11-29 22:30:00+00:00' AS TIMESTAMP)
  )
