SELECT
  `u`.`user_id` AS `user_id`
FROM users AS `u`
WHERE
  (
    `u`.`push_opted_in` = TRUE
  )
  AND (
    `u`.`country` IS NULL
  )
  AND (
    `u`.`platform` IN ('ios')
  )
  AND (
    NOT (
      (
        `u`.`sessions` < 3
      )
      OR (
        `u`.`last_used` < CAST('2026-10-31 00:00:00+00:00' AS TIMESTAMP)
      )
    )
  )
