SELECT
  `u`.`user_id` AS `user_id`
FROM users AS `u`
WHERE
  (
    `u`.`platform` = 'ios'
  )
  AND (
    `u`.`country` <> 'US'
  )
  AND (
    `u`.`sessions` < 10
  )
  AND (
    `u`.`sessions` <= 9.5
  )
  AND (
    `u`.`sessions` > -1
  )
  AND (
    `u`.`sessions` >= 2
  )
  AND (
    `u`.`email_subscribed` = FALSE
  )
